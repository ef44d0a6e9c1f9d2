#include "owners.h"

#include <cstring>
#include <mutex>
#include <vector>

#include "elf.h"
#include "patch.h"
#include "tags.h"

namespace mlxtrace {

thread_local uint8_t t_user = 0;
thread_local uint32_t t_mark = 0;
std::atomic<bool> g_owners_on{false};

namespace {

// The marks: four-way sets of 64-bit words, each (desc << kKeyShift | ran << kMarkBits | mark),
// written and read with single atomic operations from any thread. A node's word goes when MLX
// destroys the node (hook_dispose), so a word always speaks of a live node, never of an earlier
// node at the same address. A full set gives up, first, the word of a node that has run.
constexpr uint32_t kSets = 1 << 16, kWays = 4;
constexpr int kKeyShift = kMarkBits + 1;  // user-space addresses fit the 47 bits left
constexpr uint64_t kRan = 1ull << kMarkBits;
constexpr uint64_t kMarkMask = kRan - 1;
std::atomic<uint64_t>* g_marks = static_cast<std::atomic<uint64_t>*>(table_memory(kSets * kWays * sizeof(uint64_t)));

inline std::atomic<uint64_t>* set_of(uint64_t d) { return g_marks + (((d >> 6) ^ (d >> 22)) & (kSets - 1)) * kWays; }
inline bool holds(uint64_t word, uint64_t d) { return word >> kKeyShift == d; }

// ---- node destruction ------------------------------------------------------------------------

// std::make_shared<ArrayDesc>'s control block: its vtable, and the node in place after the
// block's header (vtable pointer, use and weak counts): checked on a live array before use.
constexpr size_t kDescInBlock = 16;
const char kBlockVtable[] = "_ZTVSt23_Sp_counted_ptr_inplaceIN3mlx4core5array9ArrayDescESaIS3_ELN9__gnu_cxx12_Lock_policyE2EE";
const char kBlockDispose[] =
    "_ZNSt23_Sp_counted_ptr_inplaceIN3mlx4core5array9ArrayDescESaIS3_ELN9__gnu_cxx12_Lock_policyE2EE10_M_disposeEv";

using DisposeFn = void (*)(void* block);
void** g_block_vtable = nullptr;  // address point
void** g_dispose_slot = nullptr;
DisposeFn g_dispose = nullptr;
std::atomic<bool> g_exact{false};  // node destruction is hooked: a word equal to a node's is its own
std::mutex g_on_mu;
bool g_allowed = false;

void forget(uint64_t d) {
  std::atomic<uint64_t>* s = set_of(d);
  for (uint32_t w = 0; w < kWays; w++) {
    uint64_t v = s[w].load(std::memory_order_relaxed);
    while (holds(v, d) && !s[w].compare_exchange_weak(v, 0, std::memory_order_relaxed)) {
    }
  }
}

// Runs on whichever thread drops a node's last reference, before the node's memory goes.
void hook_dispose(void* block) {
  forget(reinterpret_cast<uint64_t>(block) + kDescInBlock);
  g_dispose(block);
}

bool block_symbol(const char* nm) { return strcmp(nm, kBlockVtable) == 0 || strcmp(nm, kBlockDispose) == 0; }

// ---- marks ---------------------------------------------------------------------------------

// Writes node d's mark; false when d already carries it (its graph below is marked: the walk stops).
bool put(uint64_t d, uint32_t mark, bool exact) {
  std::atomic<uint64_t>* s = set_of(d);
  const uint64_t want = d << kKeyShift | mark;
  for (int attempt = 0; attempt < 4; attempt++) {
    int empty = -1, ran = -1;
    for (uint32_t w = 0; w < kWays; w++) {
      uint64_t v = s[w].load(std::memory_order_relaxed);
      if (holds(v, d)) {
        if ((v & kMarkMask) == mark && exact) return false;
        while (holds(v, d) && !s[w].compare_exchange_weak(v, want, std::memory_order_relaxed)) {
        }
        return true;
      }
      if (!v && empty < 0) empty = int(w);
      if ((v & kRan) && ran < 0) ran = int(w);
    }
    // Every way holds an unrun node: the one picked by d's bits makes way.
    const int victim = empty >= 0 ? empty : ran >= 0 ? ran : int((d >> 4) & (kWays - 1));
    uint64_t v = s[victim].load(std::memory_order_relaxed);
    if ((empty >= 0 && v) || (empty < 0 && ran >= 0 && !(v & kRan))) continue;  // taken meanwhile
    if (s[victim].compare_exchange_strong(v, want, std::memory_order_relaxed)) return true;
  }
  return true;
}

// The mark of node d, 0 when it has none; with `ran`, notes that d's primitive has run.
uint32_t mark_of(uint64_t d, bool ran) {
  std::atomic<uint64_t>* s = set_of(d);
  for (uint32_t w = 0; w < kWays; w++) {
    uint64_t v = s[w].load(std::memory_order_relaxed);
    if (!holds(v, d)) continue;
    const uint32_t mark = uint32_t(v & kMarkMask);
    if (ran && !(v & kRan)) s[w].compare_exchange_strong(v, v | kRan, std::memory_order_relaxed);
    return mark;
  }
  return 0;
}

thread_local std::vector<const uint8_t*> t_stack;

}  // namespace

std::string owners_prepare(const std::string& path, uintptr_t base) {
  std::lock_guard<std::mutex> lk(g_on_mu);
  g_block_vtable = nullptr;
  g_dispose_slot = nullptr;
  std::vector<Sym> syms;
  std::string err = read_dynsym(path, base, &block_symbol, syms);
  if (!err.empty()) return err;
  void* dispose = nullptr;
  size_t nslots = 0;
  for (const Sym& s : syms) {
    if (s.name == kBlockDispose) dispose = reinterpret_cast<void*>(s.addr);
    if (s.name == kBlockVtable) {
      g_block_vtable = reinterpret_cast<void**>(s.addr) + 2;  // skip offset-to-top and typeinfo
      nslots = s.size / sizeof(void*) - 2;
    }
  }
  for (size_t i = 0; g_block_vtable && dispose && i < nslots; i++)
    if (g_block_vtable[i] == dispose) g_dispose_slot = &g_block_vtable[i];
  if (!g_dispose_slot) return "the addon does not export ArrayDesc's control block";
  g_dispose = reinterpret_cast<DisposeFn>(dispose);
  return "";
}

void owners_allow() {
  std::lock_guard<std::mutex> lk(g_on_mu);
  g_allowed = true;
}

void owners_turn_on(const void* array) {
  std::lock_guard<std::mutex> lk(g_on_mu);
  if (!g_allowed || g_owners_on.load(std::memory_order_relaxed)) return;
  // mlx::core::array is a shared_ptr: {ArrayDesc*, control block*}.
  void* const* sp = static_cast<void* const*>(array);
  const auto* block = static_cast<const uint8_t*>(sp[1]);
  const bool known = g_dispose_slot && block && *reinterpret_cast<void* const*>(block) == g_block_vtable &&
                     block + kDescInBlock == sp[0];
  // Without the hook, marks still go on, and a walk does not trust a word at its root.
  if (known && patch_pointer(g_dispose_slot, reinterpret_cast<void*>(&hook_dispose))) g_exact.store(true);
  g_owners_on.store(true);
}

void owners_off() {
  std::lock_guard<std::mutex> lk(g_on_mu);
  g_allowed = false;
  if (g_exact.load()) patch_pointer(g_dispose_slot, reinterpret_cast<void*>(g_dispose));
  g_exact.store(false);
  if (!g_owners_on.exchange(false)) return;
  for (uint32_t i = 0; i < kSets * kWays; i++) g_marks[i].store(0, std::memory_order_relaxed);
}

void mark_built(const void* array) {
  const void* d0 = desc_of(array);
  if (!d0) return;
  const uint32_t mark = t_mark ? t_mark : make_mark(kOtherThread, 0);
  const bool exact = g_exact.load(std::memory_order_relaxed);
  std::vector<const uint8_t*>& stack = t_stack;
  stack.clear();
  stack.push_back(static_cast<const uint8_t*>(d0));
  while (!stack.empty()) {
    const uint8_t* d = stack.back();
    stack.pop_back();
    // Taken by an eval (maybe being run and detached on the stream thread: marked before that), or a leaf.
    if (!walkable(d)) continue;
    if (!put(reinterpret_cast<uint64_t>(d), mark, exact || d != d0)) continue;
    push_inputs(d, stack);
  }
}

uint32_t owner_when_run(uint64_t d, VecView inputs) {
  uint32_t mark = mark_of(d, true);
  for (const uint8_t* p = inputs.begin; !mark && p < inputs.end; p += g_layout.array_size)
    if (desc_of(p)) mark = mark_of(reinterpret_cast<uint64_t>(desc_of(p)), false);
  return mark;
}

}  // namespace mlxtrace
