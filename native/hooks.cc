#include "hooks.h"

#include <array>
#include <mutex>
#include <utility>
#include <vector>

#include "alloc-hooks.h"
#include "clock.h"
#include "layout.h"
#include "owners.h"
#include "patch.h"
#include "ring.h"

namespace mlxtrace {
namespace {

struct Slot {
  void** where = nullptr;
  EvalFn orig = nullptr;
};
Slot g_cpu[kMaxClasses], g_gpu[kMaxClasses];
int g_nclasses = 0;
bool g_attached = false;
std::mutex g_attach_mu;

// ---- the hot path -------------------------------------------------------------------------

struct ClassScope {  // which primitive this thread is running and since when, for memory events
  uint16_t prev;
  uint64_t prev_t0;
  ClassScope(uint16_t c, uint64_t t0) : prev(t_current_cls), prev_t0(t_current_t0) {
    t_current_cls = c;
    t_current_t0 = t0;
  }
  ~ClassScope() {
    t_current_cls = prev;
    t_current_t0 = prev_t0;
  }
};

inline void copy_words(ThreadBuf* b, uint64_t at, const uint32_t* src, int n) {
  const uint64_t mask = b->wcap - 1;
  for (int i = 0; i < n; i++) b->words[(at + i) & mask] = src[i];
}

// Writes the arrays' descriptions (outputs, then inputs) from side word `wh` on; returns the
// words written. In place where they fit before the ring wraps, else through a copy.
inline uint32_t write_arrays(ThreadBuf* b, uint64_t wh, VecView out, int nout, VecView in, int nin, uint64_t worst) {
  const size_t asz = g_layout.array_size;
  const uint64_t mask = b->wcap - 1;
  if ((wh & mask) + worst <= b->wcap) {
    uint32_t* dst = b->words + (wh & mask);
    uint32_t* p = dst;
    for (int i = 0; i < nout; i++) p += describe_array(out.begin + i * asz, true, p);
    for (int i = 0; i < nin; i++) p += describe_array(in.begin + i * asz, false, p);
    return uint32_t(p - dst);
  }
  uint64_t w = wh;
  uint32_t tmp[kMaxArrayWords];
  for (int i = 0; i < nout; i++) {
    int n = describe_array(out.begin + i * asz, true, tmp);
    copy_words(b, w, tmp, n);
    w += n;
  }
  for (int i = 0; i < nin; i++) {
    int n = describe_array(in.begin + i * asz, false, tmp);
    copy_words(b, w, tmp, n);
    w += n;
  }
  return uint32_t(w - wh);
}

void record_primitive(uint8_t kind, uint16_t cls, uint64_t t0, uint64_t t1, const void* inputs,
                      const void* outputs) {
  flush_frees_first();  // keep this thread's events in order
  ThreadBuf* b = thread_buf();
  if (!b) return;
  VecView in = {static_cast<const uint8_t* const*>(inputs)[0],
                static_cast<const uint8_t* const*>(inputs)[1]};
  VecView out = {static_cast<const uint8_t* const*>(outputs)[0],
                 static_cast<const uint8_t* const*>(outputs)[1]};
  const size_t asz = g_layout.array_size;
  int nin = int((in.end - in.begin) / asz), nout = int((out.end - out.begin) / asz);
  uint8_t flags = 0;
  if (nin > kMaxArraysIn) nin = kMaxArraysIn, flags |= kFlagTruncated;
  if (nout > kMaxArraysOut) nout = kMaxArraysOut, flags |= kFlagTruncated;
  const uint64_t worst = uint64_t(nin + nout) * kMaxArrayWords;
  Reservation res;
  if (!ring_reserve(b, worst, res)) return;
  const uint32_t nwords = write_arrays(b, res.wh, out, nout, in, nin, worst);
  Rec* r = res.rec;
  r->t0 = t0;
  r->t1 = t1;
  r->ident = nout ? reinterpret_cast<uint64_t>(desc_of(out.begin)) : 0;
  r->value = 0;
  r->tid = b->tid;
  r->cls = cls;
  r->kind = kind;
  r->nin = uint8_t(nin);
  r->nout = uint8_t(nout);
  r->flags = flags;
  r->nwords = uint16_t(nwords);
  // Read now: the node may be gone by the drain, and its mark with it.
  r->woff = r->ident && g_owners_on.load(std::memory_order_relaxed) ? owner_when_run(r->ident, in) : 0;
  ring_commit(b, res, nwords);
}

template <int N, bool GPU>
void trampoline(void* self, const void* inputs, void* outputs) {
  const Slot& s = GPU ? g_gpu[N] : g_cpu[N];
  if (!g_recording.load(std::memory_order_relaxed)) return s.orig(self, inputs, outputs);
  const uint64_t t0 = stamp();
  ClassScope scope{uint16_t(N), t0};
  s.orig(self, inputs, outputs);
  const uint64_t t1 = stamp();
  record_primitive(GPU ? kPrimGpu : kPrimCpu, uint16_t(N), t0, t1, inputs, outputs);
}

template <bool GPU, size_t... I>
constexpr std::array<EvalFn, sizeof...(I)> make_table(std::index_sequence<I...>) {
  return {{&trampoline<int(I), GPU>...}};
}
const auto kCpuTramps = make_table<false>(std::make_index_sequence<kMaxClasses>{});
const auto kGpuTramps = make_table<true>(std::make_index_sequence<kMaxClasses>{});

}  // namespace

// ---- attach and detach --------------------------------------------------------------------

std::string attach(const MlxImage& img, bool memory) {
  std::lock_guard<std::mutex> lk(g_attach_mu);
  if (g_attached) return "";
  PatchSession session;
  g_nclasses = int(img.classes.size());
  for (int i = 0; i < g_nclasses; i++) {
    const auto& c = img.classes[i];
    g_cpu[i].where = &c.vtable[img.cpu_slot];
    g_cpu[i].orig = reinterpret_cast<EvalFn>(c.vtable[img.cpu_slot]);
    g_gpu[i] = Slot{};
    if (img.gpu_slot >= 0) {
      g_gpu[i].where = &c.vtable[img.gpu_slot];
      g_gpu[i].orig = reinterpret_cast<EvalFn>(c.vtable[img.gpu_slot]);
    }
  }
  std::vector<SlotWrite> hooks, origs;
  for (int i = 0; i < g_nclasses; i++) {
    hooks.push_back({g_cpu[i].where, reinterpret_cast<void*>(kCpuTramps[i])});
    origs.push_back({g_cpu[i].where, reinterpret_cast<void*>(g_cpu[i].orig)});
    if (g_gpu[i].where) {
      hooks.push_back({g_gpu[i].where, reinterpret_cast<void*>(kGpuTramps[i])});
      origs.push_back({g_gpu[i].where, reinterpret_cast<void*>(g_gpu[i].orig)});
    }
  }
  if (!session.write(hooks)) {
    session.write(origs);
    return "cannot make the vtables of MLX's primitives writable";
  }
  if (memory) alloc_attach(img, session);
  g_attached = true;
  return "";
}

void detach() {
  std::lock_guard<std::mutex> lk(g_attach_mu);
  if (!g_attached) return;
  PatchSession session;
  std::vector<SlotWrite> origs;
  for (int i = 0; i < g_nclasses; i++) {
    origs.push_back({g_cpu[i].where, reinterpret_cast<void*>(g_cpu[i].orig)});
    if (g_gpu[i].where) origs.push_back({g_gpu[i].where, reinterpret_cast<void*>(g_gpu[i].orig)});
  }
  session.write(origs);
  alloc_detach(session);
  g_attached = false;
}

bool attached() { return g_attached; }

EvalFn cpu_trampoline(int i) { return kCpuTramps[i]; }
EvalFn set_cpu_original(int i, EvalFn f) {
  EvalFn was = g_cpu[i].orig;
  g_cpu[i].orig = f;
  return was;
}

}  // namespace mlxtrace
