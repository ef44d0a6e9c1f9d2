// Which layer built each node of the graph (and which mx.fast call, for the advisor), looked up by
// the drain when the node's primitive has run. Everything here runs on the JS thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mlxtrace {

// Zeroed memory for a table; from 2 MB up, 2 MB aligned and offered to transparent huge pages
// (a big table touched at random would otherwise miss the TLB on nearly every lookup).
void* table_memory(size_t bytes);
// Gives back what table_memory(bytes) returned.
void table_free(void* p, size_t bytes);

// ArrayDesc* -> tag, four-way set associative; an entry from an older epoch (eval) is the first
// to be replaced. The table starts small enough to stay in the cache (most graphs hold a few
// thousand untagged-yet-unrun nodes at a time: a node's entry goes when its primitive is drained)
// and doubles when it would otherwise evict an entry of the current epoch, up to kMaxSets.
class TagTable {
 public:
  static constexpr uint32_t kMinSets = 1 << 12, kMaxSets = 1 << 16, kWays = 4;
  struct Entry {
    uint64_t desc;
    uint32_t tag;
    uint32_t epoch;
  };
  uint64_t evicted = 0;

  TagTable() : sets_(kMinSets), e_(static_cast<Entry*>(table_memory(bytes(kMinSets)))) {}

  void prefetch(uint64_t d) const { __builtin_prefetch(&e_[set(d)], 1); }
  // The entry of d, valid until the next put().
  Entry* find(uint64_t d) {
    Entry* s = &e_[set(d)];
    for (uint32_t w = 0; w < kWays; w++)
      if (s[w].desc == d) return &s[w];
    return nullptr;
  }
  void put(uint64_t d, uint32_t tag, uint32_t epoch) {
    for (;;) {
      Entry* s = &e_[set(d)];
      Entry* victim = &s[0];
      for (uint32_t w = 0; w < kWays; w++) {
        if (s[w].desc == d || s[w].desc == 0) {
          victim = &s[w];
          break;
        }
        if (s[w].epoch < victim->epoch) victim = &s[w];
      }
      if (victim->desc && victim->desc != d && victim->epoch == epoch) {
        if (sets_ < kMaxSets) {
          grow();
          continue;
        }
        evicted++;
      }
      *victim = Entry{d, tag, epoch};
      return;
    }
  }

 private:
  static size_t bytes(uint32_t sets) { return size_t(sets) * kWays * sizeof(Entry); }
  // Address-ordered like the allocator hands ArrayDescs out, so the nodes of one graph (built one
  // after another) share cache lines of the table instead of missing the cache once each.
  uint32_t set(uint64_t d) const { return uint32_t(((d >> 6) ^ (d >> 22)) & (sets_ - 1)) * kWays; }
  // Twice the sets, every live entry moved over (an entry that finds its new set full is dropped
  // and counted: four ways hold it in all but pathological address patterns).
  void grow() {
    Entry* old = e_;
    const uint32_t n = sets_;
    sets_ = n * 2;
    e_ = static_cast<Entry*>(table_memory(bytes(sets_)));
    for (size_t i = 0; i < size_t(n) * kWays; i++) {
      if (!old[i].desc) continue;
      Entry* s = &e_[set(old[i].desc)];
      uint32_t w = 0;
      while (w < kWays && s[w].desc) w++;
      if (w < kWays) s[w] = old[i];
      else evicted++;
    }
    table_free(old, bytes(n));
  }
  uint32_t sets_;
  Entry* e_;
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
