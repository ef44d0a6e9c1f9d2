#include "drain.h"

#include <cstring>

#include "alloc-hooks.h"
#include "clock.h"
#include "ring.h"
#include "tags.h"

namespace mlxtrace {
namespace {
// Records ahead of the one being copied whose tag entries are prefetched.
constexpr uint64_t kLookAhead = 8;
}  // namespace

DrainOut drain_into(Rec* recs, size_t rcap, uint32_t* words, size_t wcap) {
  DrainOut o;
  memory_drain_point();
  clock_refresh();
  // Most programs never call mx.fast: skip that table's lookup (a cache miss per primitive).
  const bool any_fast = g_fast_used;
  for (int i = 0, n = buffer_count(); i < n; i++) {
    ThreadBuf* b = buffer_at(i);
    const uint64_t rh = b->rhead.load(std::memory_order_acquire);
    uint64_t rt = b->rtail.load(std::memory_order_relaxed);
    uint64_t wt = b->wtail.load(std::memory_order_relaxed);
    const uint64_t wmask = b->wcap - 1;
    for (; rt < rh; rt++) {
      // The tag lookups miss the cache (the eval ran through plenty of memory since the layer
      // tagged its nodes): start the one of a record a few places ahead, so the misses overlap.
      if (rt + kLookAhead < rh) {
        const Rec& ahead = b->recs[(rt + kLookAhead) & (b->rcap - 1)];
        if ((ahead.kind == kPrimCpu || ahead.kind == kPrimGpu) && ahead.ident) g_tags.prefetch(ahead.ident);
      }
      Rec r = b->recs[rt & (b->rcap - 1)];
      if (o.nrec == rcap || o.nword + r.nwords > wcap) {
        o.more = true;
        break;
      }
      r.t0 = stamp_to_ns(r.t0);
      r.t1 = stamp_to_ns(r.t1);
      r.woff = uint32_t(o.nword);
      const uint64_t at = wt & wmask;
      if (at + r.nwords <= b->wcap) {
        memcpy(words + o.nword, b->words + at, r.nwords * 4);
      } else {
        for (uint32_t k = 0; k < r.nwords; k++) words[o.nword + k] = b->words[(wt + k) & wmask];
      }
      o.nword += r.nwords;
      wt += r.nwords;
      if (r.kind == kPrimCpu || r.kind == kPrimGpu) {
        // A node runs once; its tags are used up here, so a later array that MLX places at the
        // same address cannot inherit them.
        TagTable::Entry* e = r.ident ? g_tags.find(r.ident) : nullptr;
        r.value = e ? int64_t(e->tag) : 0;
        if (e) e->desc = 0;
        TagTable::Entry* f = any_fast && r.ident ? g_fast.find(r.ident) : nullptr;
        if (f && f->tag) r.flags = uint8_t(r.flags | ((f->tag << kFlagFastShift) & kFlagFastMask));
        if (f) f->desc = 0;
      }
      recs[o.nrec++] = r;
    }
    b->wtail.store(wt, std::memory_order_release);
    b->rtail.store(rt, std::memory_order_release);
    o.dropped += b->dropped.exchange(0, std::memory_order_relaxed);
  }
  return o;
}

void pending_counts(size_t& nrec, size_t& nword) {
  nrec = nword = 0;
  for (int i = 0, n = buffer_count(); i < n; i++) {
    ThreadBuf* b = buffer_at(i);
    nrec += b->rhead.load(std::memory_order_acquire) - b->rtail.load(std::memory_order_relaxed);
    nword += b->whead.load(std::memory_order_acquire) - b->wtail.load(std::memory_order_relaxed);
  }
}

}  // namespace mlxtrace
