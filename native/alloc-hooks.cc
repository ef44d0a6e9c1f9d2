#include "alloc-hooks.h"

#include <malloc.h>
#include <sys/mman.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "clock.h"
#include "ring.h"

namespace mlxtrace {

thread_local FreeGroup t_frees;

namespace {

// Blocks allocated while recording, so that a free of memory allocated before attach does not
// push live bytes below the baseline. One bit per 16-byte granule (malloc's alignment), in 64 MB
// regions whose 512 KB bitmaps are mapped on first use. Neighbouring blocks share a word, so the
// bitmap of a whole heap stays in cache, where a hashed set of pointers misses it on nearly every
// malloc and free. Lock-free: one atomic or/and per event.
class BlockSet {
 public:
  static constexpr int kAddrBits = 47, kRegionShift = 26, kGranuleShift = 4;
  static constexpr uint64_t kRegions = 1ull << (kAddrBits - kRegionShift);
  static constexpr uint64_t kWords = (1ull << (kRegionShift - kGranuleShift)) / 64;
  BlockSet() : regions_(static_cast<std::atomic<uint64_t*>*>(map(kRegions * sizeof(void*)))) {}
  bool ok() const { return regions_ != nullptr; }
  // False when the block cannot be tracked (odd address, no memory for its region's bitmap): the
  // caller counts a drop.
  bool insert(uintptr_t p) {
    uint64_t* w = word(p, true);
    if (!w) return false;
    __atomic_fetch_or(w, bit(p), __ATOMIC_RELAXED);
    return true;
  }
  bool erase(uintptr_t p) {
    uint64_t* w = word(p, false);
    return w && (__atomic_fetch_and(w, ~bit(p), __ATOMIC_RELAXED) & bit(p));
  }
  // Forgets every block. Bitmaps stay mapped (a hook running on another thread may still hold
  // one); MADV_DONTNEED hands their pages back, and they read as zeros after. The bitmaps made are
  // listed, so this does not scan the whole region table.
  void clear() {
    std::lock_guard<std::mutex> l(grow_);
    for (uint64_t* b : made_) madvise(b, kWords * 8, MADV_DONTNEED);
  }

 private:
  static void* map(size_t n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  static uint64_t bit(uintptr_t p) { return 1ull << ((p >> kGranuleShift) & 63); }
  uint64_t* word(uintptr_t p, bool make) {
    if (!regions_ || (p >> kAddrBits) || (p & ((1u << kGranuleShift) - 1))) return nullptr;
    std::atomic<uint64_t*>& slot = regions_[p >> kRegionShift];
    uint64_t* b = slot.load(std::memory_order_acquire);
    if (!b) {
      if (!make) return nullptr;
      std::lock_guard<std::mutex> l(grow_);
      b = slot.load(std::memory_order_acquire);
      if (!b) {
        b = static_cast<uint64_t*>(map(kWords * 8));
        if (!b) return nullptr;
        made_.push_back(b);
        slot.store(b, std::memory_order_release);
      }
    }
    const uint64_t g = (p & ((1ull << kRegionShift) - 1)) >> kGranuleShift;
    return b + (g >> 6);
  }
  std::atomic<uint64_t*>* regions_;  // 16 MB of address space, touched one page per 32 GB of heap span
  std::mutex grow_;
  std::vector<uint64_t*> made_;
};
BlockSet* g_blocks = nullptr;
std::atomic<int64_t> g_live{0};
std::atomic<uint64_t> g_untracked_frees{0};

MallocFn g_orig_malloc = nullptr;
FreeFn g_orig_free = nullptr;
void** g_malloc_where = nullptr;
void** g_free_where = nullptr;

// The time of a memory event: inside a primitive, the primitive's start (the event lies within its
// span, and a TSC read costs as much as the rest of the hook here), else now.
inline uint64_t memory_stamp() { return t_current_cls != kNoClass ? t_current_t0 : stamp(); }

void record_memory(uint8_t kind, int64_t delta, int64_t live, uint64_t t = 0) {
  ThreadBuf* b = thread_buf();
  if (!b) return;
  Reservation res;
  if (!ring_reserve(b, 0, res)) return;
  Rec* r = res.rec;
  r->t0 = r->t1 = t ? t : memory_stamp();
  r->ident = uint64_t(live);
  r->value = delta;
  r->tid = b->tid;
  r->cls = t_current_cls;
  r->kind = kind;
  r->nin = r->nout = r->flags = 0;
  r->nwords = 0;
  r->woff = 0;
  ring_commit(b, res, 0);
}

// Frees on the JS thread come in bursts (node-mlx frees arrays from GC finalizers: thousands at
// once) and as many events would fill the ring and the trace with points no view can tell apart.
// There, up to kFreeGroup consecutive frees become one event: total bytes, live bytes after the
// last one, and the time of the first one (one TSC read per group, not per free; a burst's frees
// lie microseconds apart). The group is flushed before any other event of that thread and at every
// drain, which runs on that same thread, so nothing waits past a drain.
constexpr uint32_t kFreeGroup = 64;
std::atomic<ThreadBuf*> g_js_buf{nullptr};

}  // namespace

void flush_free_group() {
  if (t_frees.n == 0) return;
  record_memory(kFree, -t_frees.bytes, t_frees.live, t_frees.t);
  t_frees = FreeGroup{};
}

// CommonAllocator hands out std::malloc blocks (checked by the probe), so a block's usable size is
// its real footprint, and using it on both sides keeps live bytes exact. glibc's malloc_usable_size
// also reads the next chunk's header, to check that the block is in use (ours always is): a cache
// line no one else needs then, missed about once per primitive. The size is read from the block's
// own chunk header instead (glibc's layout: size with flag bits 0-2, IS_MMAPPED = 2; the header is
// 8 bytes, 16 for a mapped chunk), once checked against malloc_usable_size at attach.
bool g_chunk_sizes = false;

inline int64_t chunk_bytes(const void* p) {
  const size_t head = *reinterpret_cast<const size_t*>(reinterpret_cast<uintptr_t>(p) - sizeof(size_t));
  const size_t chunk = head & ~size_t(7);
  return int64_t(head & 2 ? chunk - 16 : chunk - 8);
}

inline int64_t block_bytes(void* p) { return g_chunk_sizes ? chunk_bytes(p) : int64_t(malloc_usable_size(p)); }

// Whether chunk headers give malloc_usable_size's answer here, on blocks from the smallest to mapped ones.
bool chunk_sizes_agree() {
  bool ok = true;
  for (size_t n : {size_t(1), size_t(24), size_t(100), size_t(4000), size_t(100000), size_t(1) << 20, size_t(8) << 20}) {
    void* p = malloc(n);
    if (!p) continue;
    ok = ok && chunk_bytes(p) == int64_t(malloc_usable_size(p));
    free(p);
  }
  return ok;
}

void* hook_malloc(void* self, size_t size, bool allow_swap) {
  void* p = g_orig_malloc(self, size, allow_swap);
  if (p && g_recording.load(std::memory_order_relaxed)) {
    if (g_blocks->insert(uintptr_t(p))) {
      flush_frees_first();
      int64_t n = block_bytes(p);
      record_memory(kMalloc, n, g_live.fetch_add(n, std::memory_order_relaxed) + n);
    } else if (ThreadBuf* b = thread_buf()) {
      // No bitmap for its region (out of memory) or an address malloc cannot return: this block
      // goes untracked, and the trace says so.
      b->dropped.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return p;
}

void hook_free(void* self, void* buffer) {
  if (buffer && g_blocks->erase(uintptr_t(buffer))) {
    int64_t n = block_bytes(buffer);
    int64_t live = g_live.fetch_sub(n, std::memory_order_relaxed) - n;
    if (g_recording.load(std::memory_order_relaxed)) {
      if (t_buf && t_buf == g_js_buf.load(std::memory_order_relaxed)) {
        if (t_frees.n == 0) t_frees.t = memory_stamp();
        t_frees.bytes += n;
        t_frees.live = live;
        if (++t_frees.n == kFreeGroup) flush_free_group();
      } else {
        record_memory(kFree, -n, live);
      }
    }
  } else if (buffer) {
    g_untracked_frees.fetch_add(1, std::memory_order_relaxed);
  }
  g_orig_free(self, buffer);
}

bool block_set_ready() {
  if (!g_blocks) g_blocks = new BlockSet();
  return g_blocks->ok();
}

void alloc_attach(const MlxImage& img, PatchSession& s) {
  block_set_ready();
  g_blocks->clear();  // live bytes count from this attach on
  // Without its table the memory hooks stay off (primitives are still timed).
  if (!g_blocks->ok() || img.malloc_slot < 0 || img.free_slot < 0) return;
  g_live.store(0);
  static const bool chunk_sizes = chunk_sizes_agree();
  g_chunk_sizes = chunk_sizes;
  g_malloc_where = &img.alloc_vtable[img.malloc_slot];
  g_free_where = &img.alloc_vtable[img.free_slot];
  g_orig_malloc = reinterpret_cast<MallocFn>(img.alloc_malloc);
  g_orig_free = reinterpret_cast<FreeFn>(img.alloc_free);
  s.write(g_malloc_where, reinterpret_cast<void*>(&hook_malloc));
  s.write(g_free_where, reinterpret_cast<void*>(&hook_free));
}

// Frees of blocks tracked so far go uncounted from here on, which is harmless: live bytes start
// again from zero at the next attach.
void alloc_detach(PatchSession& s) {
  if (g_malloc_where) s.write(g_malloc_where, reinterpret_cast<void*>(g_orig_malloc));
  if (g_free_where) s.write(g_free_where, reinterpret_cast<void*>(g_orig_free));
  g_malloc_where = g_free_where = nullptr;
}

int64_t live_bytes() { return g_live.load(); }
uint64_t untracked_frees() { return g_untracked_frees.load(); }
MallocFn orig_malloc() { return g_orig_malloc; }
FreeFn orig_free() { return g_orig_free; }

void memory_drain_point() {
  g_js_buf.store(thread_buf(), std::memory_order_relaxed);
  flush_free_group();
}

}  // namespace mlxtrace
