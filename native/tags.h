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

// ArrayDesc* -> tag, four-way set associative with two choices: a node's entry goes in the emptier
// of two sets its address hashes to, which keeps the sets even, so the table stays near twice the
// entries it holds and in the cache (one set per node would grow it whenever a set filled up).
// MLX reuses a freed node's address for the next node it makes, and a node's record is drained
// after its node may be gone, so an entry also holds its node's lifetime in stamps (clock.h): from
// tagging (born) to the making of the next node at that address (died, tag_built()). The drain takes
// the entry whose lifetime holds the primitive's start, so a node made meanwhile at the same address
// neither lends its tag to the earlier one nor loses its own. Born must be a stamp of its own: an
// entry can be dropped while its node's primitive is still to run, and only a stamp taken after that
// node died bounds the primitive's start.
// A table starts small enough to stay in the cache (a node's entry goes when its primitive is
// drained; the drain looks up every primitive, so a miss here is paid per primitive) and doubles
// when it would otherwise evict a live entry of the current epoch, up to kMaxSets; a dead entry is
// the first to go, then the oldest epoch. Losing an entry costs a primitive its layer, nothing more:
// what keeps walks off nodes the stream thread may be running is MLX's own status (layout.h).
class TagTable {
 public:
  static constexpr uint32_t kMaxSets = 1 << 16, kWays = 4;
  static constexpr uint64_t kAlive = ~0ull;
  // An entry's mark: the eval it was tagged for (the low kEpochBits of the SDK's epoch: equal
  // epochs are all that is asked of it) and, above them, the mx.fast function (1..7) whose fallback
  // graph the node belongs to.
  static constexpr uint32_t kEpochBits = 29, kEpochMask = (1u << kEpochBits) - 1;
  static uint32_t mark(uint32_t epoch, uint32_t fast) { return (epoch & kEpochMask) | (fast << kEpochBits); }
  static uint32_t fast_of(uint32_t mark) { return mark >> kEpochBits; }
  static bool same_epoch(uint32_t a, uint32_t b) { return ((a ^ b) & kEpochMask) == 0; }
  struct Entry {
    uint64_t desc;  // 0: empty
    uint32_t tag;
    uint32_t mark;
    uint64_t born, died;  // died: kAlive while its node lives
  };
  uint64_t evicted = 0;

  explicit TagTable(uint32_t min_sets) : sets_(min_sets), e_(static_cast<Entry*>(table_memory(bytes(min_sets)))) {}
  TagTable(const TagTable&) = delete;
  TagTable& operator=(const TagTable&) = delete;
  ~TagTable() { table_free(e_, bytes(sets_)); }

  size_t bytes() const { return bytes(sets_); }
  void prefetch(uint64_t d) const {
    const Choice c = choice(d);
    __builtin_prefetch(c.a, 1);
    __builtin_prefetch(c.b, 1);
  }
  // The live entry of d (its current node's), valid until the next put().
  Entry* find(uint64_t d) {
    const Choice c = choice(d);
    for (uint32_t w = 0; w < kWays; w++) {
      if (c.a[w].desc == d && c.a[w].died == kAlive) return &c.a[w];
      if (c.b[w].desc == d && c.b[w].died == kAlive) return &c.b[w];
    }
    return nullptr;
  }
  // The entry of the node at d that was alive at stamp t (a primitive's start), or null.
  Entry* find_at(uint64_t d, uint64_t t) {
    const Choice c = choice(d);
    for (uint32_t w = 0; w < kWays; w++) {
      if (c.a[w].desc == d && c.a[w].born <= t && t < c.a[w].died) return &c.a[w];
      if (c.b[w].desc == d && c.b[w].born <= t && t < c.b[w].died) return &c.b[w];
    }
    return nullptr;
  }
  // Whether d has a live entry of `epoch`, as find() would say, asked of a small direct-mapped copy of
  // that answer for the nodes tagged lately (false: ask find()). Most nodes a walk reaches are the
  // inputs of the op just made, tagged moments ago: this skips reading the node and probing two sets
  // that have left the cache. Every change of the table that could make the copy wrong forgets it.
  bool recent(uint64_t d, uint32_t epoch) const {
    const Recent& r = recent_[recent_slot(d)];
    return r.desc == d && same_epoch(r.mark, epoch);
  }
  // Ends live entry e (its node is gone or an eval took it).
  void end(Entry* e, uint64_t now) {
    forget(e->desc);
    e->died = now;
  }
  // Frees entry e (its primitive has run and been drained).
  void release(Entry* e) {
    forget(e->desc);
    e->desc = 0;
  }
  // Tags the node at d. `live` is find(d): in a walk an entry of another epoch (the walk stops at
  // one of this epoch), in tag_built any entry. It ends now and a fresh one starts. It is either a
  // dead node's (a node MLX made inside an op at a reused address is tagged by a walk, never by
  // tag_built()) or this node's under its earlier tag, and either way a primitive that starts from
  // now on is this node's.
  void put(uint64_t d, uint32_t tag, uint32_t mark, uint64_t now, Entry* live) {
    if (live) live->died = now;
    for (;;) {
      const Choice c = choice(d);
      Entry* victim = c.emptier();
      if (!victim) victim = older(oldest(c.a), oldest(c.b));
      // A live entry of this eval makes the table grow rather than go.
      if (victim->died == kAlive && same_epoch(victim->mark, mark)) {
        if (sets_ < kMaxSets) {
          grow();
          continue;
        }
        evicted++;
      }
      if (victim->desc != d) forget(victim->desc);
      *victim = Entry{d, tag, mark, now, kAlive};
      recent_[recent_slot(d)] = Recent{d, mark};
      return;
    }
  }

 private:
  static constexpr uint32_t kRecentBits = 8;
  struct Recent {
    uint64_t desc;
    uint32_t mark;
  };
  static uint32_t recent_slot(uint64_t d) { return uint32_t(((d >> 4) * 0x9E3779B97F4A7C15ull) >> (64 - kRecentBits)); }
  void forget(uint64_t d) {
    Recent& r = recent_[recent_slot(d)];
    if (r.desc == d) r.desc = 0;
  }
  static size_t bytes(uint32_t sets) { return size_t(sets) * kWays * sizeof(Entry); }
  static uint32_t free_ways(const Entry* s) {
    uint32_t n = 0;
    for (uint32_t w = 0; w < kWays; w++) n += s[w].desc == 0;
    return n;
  }
  // The two sets a node's entry may take. ArrayDescs come from the allocator at a steady stride,
  // which multiplicative hashing spreads evenly; the second set is an independent hash's.
  struct Choice {
    Entry* a;
    Entry* b;
    // An empty way of the set with more of them, or null when both are full.
    Entry* emptier() const {
      const uint32_t fa = free_ways(a), fb = free_ways(b);
      if (!fa && !fb) return nullptr;
      Entry* s = fa >= fb ? a : b;
      while (s->desc) s++;
      return s;
    }
  };
  Choice choice(uint64_t d) const {
    const uint64_t h = (d >> 4) * 0x9E3779B97F4A7C15ull, h2 = h * 0xC2B2AE3D27D4EB4Full;
    const int shift = 64 - __builtin_ctz(sets_);
    return {&e_[uint32_t(h >> shift) * kWays], &e_[uint32_t(h2 >> shift) * kWays]};
  }
  // Which of two entries a full set gives up first: a dead one, the one that died first, else the
  // oldest epoch.
  static bool goes_before(const Entry* x, const Entry* y) {
    const bool dead = x->died != kAlive, ydead = y->died != kAlive;
    return dead != ydead ? dead : dead ? x->died < y->died : (x->mark & kEpochMask) < (y->mark & kEpochMask);
  }
  static Entry* older(Entry* x, Entry* y) { return goes_before(y, x) ? y : x; }
  static Entry* oldest(Entry* s) {
    Entry* v = &s[0];
    for (uint32_t w = 1; w < kWays; w++) v = older(v, &s[w]);
    return v;
  }
  // Twice the sets, every entry moved over (one that finds both its sets full is dropped and
  // counted: at half the load that made the table grow, that takes a pathological address pattern).
  void grow() {
    Entry* old = e_;
    const uint32_t n = sets_;
    sets_ = n * 2;
    e_ = static_cast<Entry*>(table_memory(bytes(sets_)));
    for (Recent& r : recent_) r.desc = 0;  // an entry that finds no room is dropped
    for (size_t i = 0; i < size_t(n) * kWays; i++) {
      if (!old[i].desc) continue;
      if (Entry* to = choice(old[i].desc).emptier()) *to = old[i];
      else evicted++;
    }
    table_free(old, bytes(n));
  }
  uint32_t sets_;
  Entry* e_;
  Recent recent_[1u << kRecentBits] = {};
};

// Layer (and mx.fast function) that built each node. Never destroyed: a JS thread may still tag
// while the process exits.
extern TagTable& g_tags;

// Roots for tag_walk, filled by the caller.
std::vector<const uint8_t*>& walk_stack();

// Tags every node reachable from walk_stack() that no eval has taken yet with `tag`, stopping at
// nodes already tagged in this epoch and at `stops`, and marks them with the mx.fast function `fast`
// (0: none). Returns how many nodes it tagged.
// `now` is the stamp (clock.h) the entries it makes start their lifetime at.
uint32_t tag_walk(uint32_t tag, uint32_t epoch, uint32_t fast, const uint8_t* const* stops, int nstops, uint64_t now);

// What the SDK says about the graph being built, written by JS through a shared Uint32Array (see
// BuildState in addon.cc): whether arrays are tagged as node-mlx makes them, the innermost open
// layer, the epoch (evals so far), a count of nodes tagged that way, and the mx.fast function
// being called (1..7, 0 outside one).
struct BuildState {
  uint32_t on;
  uint32_t layer;
  uint32_t epoch;
  uint32_t tagged;
  uint32_t fast;
};
extern BuildState g_build;

// Tags the node behind one mlx::core::array just made (and any nodes of its graph not yet tagged
// in this epoch: a composite op's inner nodes) with the layer being built.
void tag_built(const void* array);

}  // namespace mlxtrace
