// Which layer built each node of the graph (and which mx.fast call, for the advisor), looked up by
// the drain when the node's primitive has run. Everything here runs on the JS thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mlxtrace {

// Zeroed memory for a table, 2 MB aligned and offered to transparent huge pages.
void* table_memory(size_t bytes);

// ArrayDesc* -> tag, four-way set associative, fixed size; an entry from an older epoch (eval) is
// the first to be replaced.
class TagTable {
 public:
  static constexpr uint32_t kSets = 1 << 16, kWays = 4;
  struct Entry {
    uint64_t desc;
    uint32_t tag;
    uint32_t epoch;
  };
  // 4 MB of entries touched at random: on 4 KB pages nearly every lookup would also miss the TLB,
  // so the table asks for 2 MB pages.
  Entry* e = static_cast<Entry*>(table_memory(kSets * kWays * sizeof(Entry)));
  uint64_t evicted = 0;

  void prefetch(uint64_t d) const { __builtin_prefetch(&e[set(d)], 1); }
  Entry* find(uint64_t d) {
    Entry* s = &e[set(d)];
    for (uint32_t w = 0; w < kWays; w++)
      if (s[w].desc == d) return &s[w];
    return nullptr;
  }
  void put(uint64_t d, uint32_t tag, uint32_t epoch) {
    Entry* s = &e[set(d)];
    Entry* victim = &s[0];
    for (uint32_t w = 0; w < kWays; w++) {
      if (s[w].desc == d || s[w].desc == 0) {
        victim = &s[w];
        break;
      }
      if (s[w].epoch < victim->epoch) victim = &s[w];
    }
    if (victim->desc && victim->desc != d && victim->epoch == epoch) evicted++;
    *victim = Entry{d, tag, epoch};
  }

 private:
  // Address-ordered like the allocator hands ArrayDescs out, so the nodes of one graph (built one
  // after another) share cache lines of the table instead of missing the cache once each.
  static uint32_t set(uint64_t d) { return uint32_t(((d >> 6) ^ (d >> 22)) & (kSets - 1)) * kWays; }
};

extern TagTable g_tags;    // layer that built each node
extern TagTable g_fast;    // mx.fast function whose fallback graph holds each node (1..7)
extern bool g_fast_used;   // set once g_fast holds a tag

// The epoch of a node an asyncEval launched: its graph may be running on the stream thread, so no
// walk reads it or tags it again (the entry goes when the drain meets the node's record).
constexpr uint32_t kLaunched = 0xFFFFFFFFu;
// Roots for tag_walk, filled by the caller.
std::vector<const uint8_t*>& walk_stack();

// Tags every not-yet-evaluated node reachable from walk_stack() with `tag`, stopping at nodes
// already tagged in this epoch, at launched nodes and at `stops`. With epoch kLaunched it marks the
// graph launched instead, keeping each node's tag. Returns how many nodes it tagged.
uint32_t tag_walk(TagTable& table, uint32_t tag, uint32_t epoch, const uint8_t* const* stops, int nstops);

// What the SDK says about the graph being built, written by JS through a shared Uint32Array (see
// BuildState in addon.cc): whether arrays are tagged as node-mlx makes them, the innermost open
// layer, the epoch (evals so far), and a count of nodes tagged that way.
struct BuildState {
  uint32_t on;
  uint32_t layer;
  uint32_t epoch;
  uint32_t tagged;
};
extern BuildState g_build;

// Tags the node behind one mlx::core::array just made (and any nodes of its graph not yet tagged
// in this epoch: a composite op's inner nodes) with the layer being built.
void tag_built(const void* array);

}  // namespace mlxtrace
