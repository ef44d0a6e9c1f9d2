#include "tags.h"

#include <sys/mman.h>

#include <cstdlib>

#include "clock.h"
#include "layout.h"

namespace mlxtrace {

namespace {
constexpr size_t kHuge = 2u << 20;
}  // namespace

void* table_memory(size_t bytes) {
  if (bytes < kHuge) {
    void* p = calloc(1, bytes);
    if (!p) abort();  // a table is needed whatever happens; without one there is nothing to record
    return p;
  }
  void* p = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);  // unaligned: only its speed suffers
    if (p == MAP_FAILED) abort();
    return p;
  }
  void* aligned = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1));
  // The slack around the aligned part goes back at once, so table_free knows the mapping.
  const size_t head = static_cast<uint8_t*>(aligned) - static_cast<uint8_t*>(p);
  if (head) munmap(p, head);
  if (kHuge - head) munmap(static_cast<uint8_t*>(aligned) + bytes, kHuge - head);
  madvise(aligned, bytes, MADV_HUGEPAGE);
  return aligned;
}

void table_free(void* p, size_t bytes) {
  if (bytes < kHuge) {
    free(p);
    return;
  }
  munmap(p, bytes);
}

// A decode step's graph (a few hundred nodes) fits the first size with much room.
TagTable& g_tags = *new TagTable(1 << 9);
BuildState g_build{0, 0, 0, 0, 0};

std::vector<const uint8_t*>& walk_stack() {
  static std::vector<const uint8_t*> stack;
  return stack;
}

uint32_t tag_walk(uint32_t tag, uint32_t epoch, uint32_t fast, const uint8_t* const* stops, int nstops, uint64_t now) {
  std::vector<const uint8_t*>& stack = walk_stack();
  uint32_t tagged = 0;
  while (!stack.empty()) {
    const uint8_t* d = stack.back();
    stack.pop_back();
    const uint64_t key = reinterpret_cast<uint64_t>(d);
    if (g_tags.recent(key, epoch)) continue;  // tagged moments ago (most inputs of the op just made)
    // A node an eval took (its graph may be running, or its inputs freed, on the stream thread) is
    // not read further and keeps the tag of the layer that built it; nor is a leaf. Asked of the node
    // before the table: it is in the cache (the op just read it), and the inputs that stop here
    // (weights, earlier results) would each miss the cache in the table.
    if (!walkable(d)) continue;
    TagTable::Entry* e = g_tags.find(key);
    if (e && TagTable::same_epoch(e->mark, epoch)) continue;
    bool stop = false;
    for (int i = 0; i < nstops; i++) stop |= stops[i] == d;
    if (stop) continue;
    g_tags.put(key, tag, TagTable::mark(epoch, fast), now, e);
    tagged++;
    push_inputs(d, stack);
  }
  return tagged;
}

void tag_built(const void* array) {
  const uint8_t* d = static_cast<const uint8_t*>(desc_of(array));
  // An op may hand JS a node it already had (one that returns its input); if an eval took that node
  // it keeps its tag and its entry, which its record still needs.
  if (!d || taken_by_eval(d)) return;
  // An entry at its address is a dead node's (or this node's, from an earlier wrap: it ends either way).
  // The node itself is tagged here, with the entry found once; the walk goes on from its inputs.
  const uint64_t now = stamp();
  const uint64_t key = reinterpret_cast<uint64_t>(d);
  TagTable::Entry* e = g_tags.find(key);
  if (!walkable(d)) {
    if (e) g_tags.end(e, now);
    return;
  }
  const uint32_t fast = g_build.fast & 7;
  g_tags.put(key, g_build.layer, TagTable::mark(g_build.epoch, fast), now, e);
  std::vector<const uint8_t*>& stack = walk_stack();
  stack.clear();
  push_inputs(d, stack);
  g_build.tagged += 1 + tag_walk(g_build.layer, g_build.epoch, fast, nullptr, 0, now);
}

}  // namespace mlxtrace
