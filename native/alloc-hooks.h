// Memory events: MLX's CommonAllocator malloc and free slots swapped for hooks that record every
// allocation made while recording and its free, with the live bytes after each.
#pragma once
#include <cstddef>
#include <cstdint>

#include "image.h"
#include "patch.h"

namespace mlxtrace {

// Swaps the allocator's slots (when the image has them); live bytes count from here on.
void alloc_attach(const MlxImage& img, PatchSession& s);
void alloc_detach(PatchSession& s);
int64_t live_bytes();
uint64_t untracked_frees();

// Frees on the JS thread are grouped (alloc-hooks.cc); the group of this thread is written out
// before any other event of the thread.
struct FreeGroup {
  int64_t bytes = 0;
  int64_t live = 0;
  uint64_t t = 0;
  uint32_t n = 0;
};
extern thread_local FreeGroup t_frees;
void flush_free_group();
inline void flush_frees_first() {
  if (t_frees.n) flush_free_group();
}
// Called by drain, on the JS thread: marks it as the thread whose frees are grouped, and flushes
// its pending group into its ring.
void memory_drain_point();

// For the self-test (selftest.cc): the hooks, and the allocator functions they call (null before
// the first attach with memory).
using MallocFn = void* (*)(void* self, size_t size, bool allow_swap);
using FreeFn = void (*)(void* self, void* buffer);
void* hook_malloc(void* self, size_t size, bool allow_swap);
void hook_free(void* self, void* buffer);
MallocFn orig_malloc();
FreeFn orig_free();
bool block_set_ready();  // makes the set of tracked blocks if needed; false without memory for it

}  // namespace mlxtrace
