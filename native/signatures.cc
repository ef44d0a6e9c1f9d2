#include "signatures.h"

#include <cstring>
#include <vector>

#include "records.h"

namespace mlxtrace {
namespace {

// Bounds of one generation: beyond them (a program whose shapes never repeat, e.g. a KV cache
// growing for hours) the table starts over instead of growing without end.
constexpr uint32_t kMaxSignatures = 1u << 18;
constexpr size_t kMaxKeyWords = size_t(1) << 24;
// The longest key: counts, then per array its header and dims.
constexpr uint32_t kKeyCap = 1 + (kMaxArraysIn + kMaxArraysOut) * (1 + kMaxDims);

struct Entry {
  uint32_t hash, off, len;
};

struct Table {
  std::vector<Entry> entries;
  std::vector<uint32_t> keys;    // every entry's key words, back to back
  std::vector<uint32_t> slots;   // open addressing: entry index + 1, 0 empty; size a power of two
  std::vector<uint32_t> last;    // by class: entry index + 1 of its last signature
  std::vector<uint32_t> next;    // by entry: entry index + 1 of the signature that came after it last
  uint32_t prev = 0;             // entry index + 1 of the signature numbered last
  uint32_t generation = 0;
  bool full = false;

  void clear() {
    entries.clear();
    keys.clear();
    next.clear();
    prev = 0;
    slots.assign(slots.size(), 0);
    std::fill(last.begin(), last.end(), 0);
    full = false;
  }
  // Entry i comes after the one numbered last.
  uint32_t follows(uint32_t i) {
    if (prev) next[prev - 1] = i + 1;
    prev = i + 1;
    return i;
  }
};

Table& table() {
  static Table t;
  return t;
}

// The key of a record's side words: counts, then per array its header (the is-output bit dropped)
// and dims; the ArrayDesc words differ per call and are left out. Returns its length, 0 when the
// words are cut short.
uint32_t key_of(const uint32_t* w, uint32_t nwords, uint8_t nin, uint8_t nout, uint32_t* key) {
  uint32_t n = 0, p = 0;
  key[n++] = uint32_t(nin) | uint32_t(nout) << 8;
  for (uint32_t k = 0; k < uint32_t(nin) + nout; k++) {
    if (p >= nwords) return 0;
    const uint32_t hdr = w[p] & 0x00FFFFFFu;
    const uint32_t ndim = hdr & 0xFF;
    if (p + 3 + ndim > nwords || ndim > kMaxDims) return 0;
    key[n++] = hdr;
    for (uint32_t d = 0; d < ndim; d++) key[n++] = w[p + 3 + d];
    p += 3 + ndim;
  }
  return n;
}

uint32_t hash_of(const uint32_t* key, uint32_t n) {
  uint32_t h = 0x811C9DC5u;
  for (uint32_t i = 0; i < n; i++) h = (h ^ key[i]) * 0x01000193u;
  return h ^ (h >> 15);
}

bool same(const Table& t, const Entry& e, const uint32_t* key, uint32_t n) {
  return e.len == n && memcmp(t.keys.data() + e.off, key, n * 4) == 0;
}

void rehash(Table& t, size_t size) {
  t.slots.assign(size, 0);
  for (uint32_t i = 0; i < t.entries.size(); i++) {
    size_t s = t.entries[i].hash & (size - 1);
    while (t.slots[s]) s = (s + 1) & (size - 1);
    t.slots[s] = i + 1;
  }
}

}  // namespace

uint32_t signature_generation() { return table().generation; }

bool signatures_full() { return table().full; }

uint32_t signature_key(uint32_t num, uint32_t* out, uint32_t cap) {
  const Table& t = table();
  if (num >= t.entries.size()) return 0;
  const Entry& e = t.entries[num];
  if (e.len <= cap) memcpy(out, t.keys.data() + e.off, e.len * 4);
  return e.len;
}

void signatures_drain_start() {
  Table& t = table();
  if (!t.full) return;
  t.clear();
  t.generation++;
}

uint32_t intern_signature(const uint32_t* words, uint32_t nwords, uint8_t nin, uint8_t nout, uint16_t cls) {
  Table& t = table();
  uint32_t key[kKeyCap];
  const uint32_t n = key_of(words, nwords, nin, nout, key);
  if (n == 0) return kNoSignature;
  // A loop runs the same primitives in the same order: the signature that came after the last one
  // last time is asked first (decode steps repeat all but the few whose cache length grew).
  if (t.prev) {
    if (uint32_t f = t.next[t.prev - 1]; f && same(t, t.entries[f - 1], key, n)) {
      t.prev = f;
      return f - 1;
    }
  }
  if (cls >= t.last.size()) t.last.resize(size_t(cls) + 1, 0);
  if (uint32_t l = t.last[cls]; l && same(t, t.entries[l - 1], key, n)) return t.follows(l - 1);
  const uint32_t h = hash_of(key, n);
  if (t.slots.empty()) t.slots.assign(1024, 0);
  const size_t mask = t.slots.size() - 1;
  size_t s = h & mask;
  for (; t.slots[s]; s = (s + 1) & mask) {
    const uint32_t i = t.slots[s] - 1;
    if (t.entries[i].hash == h && same(t, t.entries[i], key, n)) {
      t.last[cls] = i + 1;
      return t.follows(i);
    }
  }
  if (t.entries.size() >= kMaxSignatures || t.keys.size() + n > kMaxKeyWords) {
    t.full = true;
    return kNoSignature;
  }
  const uint32_t i = uint32_t(t.entries.size());
  t.entries.push_back(Entry{h, uint32_t(t.keys.size()), n});
  t.next.push_back(0);
  t.keys.insert(t.keys.end(), key, key + n);
  t.slots[s] = i + 1;
  t.last[cls] = i + 1;
  // At most half full, so probes stay short.
  if (t.entries.size() * 2 > t.slots.size()) rehash(t, t.slots.size() * 2);
  return t.follows(i);
}

}  // namespace mlxtrace
