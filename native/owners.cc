#include "owners.h"

#include <vector>

#include "layout.h"
#include "tags.h"

namespace mlxtrace {

thread_local uint8_t t_user = 0;
thread_local uint32_t t_mark = 0;
std::atomic<bool> g_owners_on{false};

namespace {

// Direct-mapped: one 64-bit word per set holds (desc << kMarkBits | mark), written and read with single
// atomic stores and loads from any thread. A collision overwrites the older mark: that node then
// reads as unmarked and goes to the default user (drain.cc).
constexpr uint32_t kSets = 1 << 16;
std::atomic<uint64_t>* g_marks = static_cast<std::atomic<uint64_t>*>(table_memory(kSets * sizeof(uint64_t)));

inline uint32_t set_of(uint64_t d) { return uint32_t(((d >> 6) ^ (d >> 22)) & (kSets - 1)); }

thread_local std::vector<const uint8_t*> t_stack;

}  // namespace

void mark_built(const void* array) {
  const void* d0 = desc_of(array);
  if (!d0) return;
  const uint64_t id = t_mark ? t_mark : make_mark(kOtherThread, 0);
  std::vector<const uint8_t*>& stack = t_stack;
  stack.clear();
  stack.push_back(static_cast<const uint8_t*>(d0));
  while (!stack.empty()) {
    const uint8_t* d = stack.back();
    stack.pop_back();
    if (!*reinterpret_cast<void* const*>(d + g_layout.primitive)) continue;  // evaluated or a leaf
    const uint64_t key = reinterpret_cast<uint64_t>(d);
    const uint64_t mark = key << kMarkBits | id;
    std::atomic<uint64_t>& slot = g_marks[set_of(key)];
    if (slot.load(std::memory_order_relaxed) == mark) continue;
    slot.store(mark, std::memory_order_relaxed);
    VecView in = vec_at(d, g_layout.inputs);
    for (const uint8_t* p = in.begin; p < in.end; p += g_layout.array_size)
      if (desc_of(p)) stack.push_back(static_cast<const uint8_t*>(desc_of(p)));
  }
}

uint32_t owner_of(uint64_t desc) {
  const uint64_t m = g_marks[set_of(desc)].load(std::memory_order_relaxed);
  return (m >> kMarkBits) == desc ? uint32_t(m & ((1u << kMarkBits) - 1)) : 0;
}

}  // namespace mlxtrace
