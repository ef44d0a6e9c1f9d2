#include "drain.h"

#include <cstring>
#include <mutex>

#include "alloc-hooks.h"
#include "clock.h"
#include "owners.h"
#include "ring.h"
#include "session.h"
#include "signatures.h"
#include "tags.h"

namespace mlxtrace {
namespace {

// Records ahead of the one being copied whose tag entries are prefetched.
constexpr uint64_t kLookAhead = 24;
// What one user's queue holds at most; beyond it records are dropped and counted.
constexpr size_t kQueueRecs = 1 << 16, kQueueWords = 1 << 20;

inline bool is_primitive(const Rec& r) { return r.kind == kPrimCpu || r.kind == kPrimGpu; }

// The layer and mx.fast tags of a primitive that started at stamp t0, from the tagging user's
// table: the entry of the node that lived at its address then (tags.h). A node runs once; its
// entry is used up here.
inline void resolve_tags(Rec& r, uint64_t t0) {
  TagTable::Entry* e = r.ident ? g_tags.find_at(r.ident, t0) : nullptr;
  r.value = e ? int64_t(e->tag) : 0;
  if (!e) return;
  r.flags = uint8_t(r.flags | ((TagTable::fast_of(e->mark) << kFlagFastShift) & kFlagFastMask));
  e->desc = 0;
}

// What a drain does to a primitive it hands out, whichever way it came (ring or queue): its tags,
// read from the entry of the node alive when it started (value holds 0 without tagging), and then
// its ident becomes the number of its signature (records.h).
inline void hand_out_primitive(Rec& r, uint64_t started, const uint32_t* words, bool tagging) {
  if (tagging) resolve_tags(r, started);
  else r.value = 0;
  r.ident = intern_signature(words, r.nwords, r.nin, r.nout, r.cls);
}

// Copies n side words starting at ring position `from` into dst.
inline void copy_ring_words(const ThreadBuf* b, uint64_t from, uint32_t n, uint32_t* dst) {
  const uint64_t wmask = b->wcap - 1;
  const uint64_t at = from & wmask;
  if (at + n <= b->wcap) {
    memcpy(dst, b->words + at, n * 4);
  } else {
    for (uint32_t k = 0; k < n; k++) dst[k] = b->words[(from + k) & wmask];
  }
}

// Whose record this is: null when it is nobody's (its thread's user is not attached, or it began
// before that user's recording last went on: a primitive still running when the user stopped).
User* owner_of_record(const Rec& r, User* me, bool route) {
  User* u = me;
  if (route) {
    const uint32_t mark = is_primitive(r) ? r.woff : 0;  // read by the trampoline
    u = mark ? user_by_mark(mark) : default_user();
  }
  if (!u || r.t0 < u->since) return nullptr;
  return u;
}

// Hands `me` what other users' drains queued for it; false when a buffer filled up first.
bool take_queue(User* me, bool tagging, Rec* recs, size_t rcap, uint32_t* words, size_t wcap, DrainOut& o) {
  for (; me->next < me->recs.size(); me->next++) {
    Rec r = me->recs[me->next];
    if (o.nrec == rcap || o.nword + r.nwords > wcap) return false;
    if (r.nwords) memcpy(words + o.nword, me->words.data() + r.woff, r.nwords * 4);
    r.woff = uint32_t(o.nword);
    o.nword += r.nwords;
    // A queued primitive carries its start stamp in value (queue_for).
    if (is_primitive(r)) hand_out_primitive(r, uint64_t(r.value), words + r.woff, tagging);
    recs[o.nrec++] = r;
  }
  me->recs.clear();
  me->words.clear();
  me->next = 0;
  return true;
}

// Queues a record (its times already in ns) for another user's drain.
void queue_for(User* u, Rec r, const ThreadBuf* b, uint64_t wt) {
  if (u->recs.size() >= kQueueRecs || u->words.size() + r.nwords > kQueueWords) {
    u->dropped++;
    return;
  }
  r.woff = uint32_t(u->words.size());
  u->words.resize(u->words.size() + r.nwords);
  copy_ring_words(b, wt, r.nwords, u->words.data() + r.woff);
  u->recs.push_back(r);
}

}  // namespace

DrainOut drain_into(const void* env, Rec* recs, size_t rcap, uint32_t* words, size_t wcap) {
  DrainOut o;
  std::lock_guard<std::mutex> lk(session_mutex());
  User* me = user_of(env);
  memory_drain_point();
  clock_refresh();
  signatures_drain_start();
  o.generation = signature_generation();
  const bool tagging = me && me == tagging_user();
  // With one user and one JS thread making arrays, every record is that user's.
  const bool route = g_owners_on.load(std::memory_order_relaxed) || attached_users() > 1 || !me || !me->id;
  if (me) {
    o.dropped += me->dropped;
    me->dropped = 0;
    if (!take_queue(me, tagging, recs, rcap, words, wcap, o)) {
      o.more = true;
      return o;
    }
  }
  for (int i = 0, n = buffer_count(); i < n && !o.more; i++) {
    ThreadBuf* b = buffer_at(i);
    const uint64_t rh = b->rhead.load(std::memory_order_acquire);
    uint64_t rt = b->rtail.load(std::memory_order_relaxed);
    uint64_t wt = b->wtail.load(std::memory_order_relaxed);
    for (; rt < rh; rt++) {
      // The tag lookups miss the cache (the eval ran through plenty of memory since the layer
      // tagged its nodes): start the one of a record a few places ahead, so the misses overlap.
      if (rt + kLookAhead < rh) {
        const Rec& ahead = b->recs[(rt + kLookAhead) & (b->rcap - 1)];
        if (tagging && is_primitive(ahead) && ahead.ident) g_tags.prefetch(ahead.ident);
      }
      Rec r = b->recs[rt & (b->rcap - 1)];
      User* u = owner_of_record(r, me, route);
      if (u == me && (o.nrec == rcap || o.nword + r.nwords > wcap)) {
        o.more = true;
        break;
      }
      const uint64_t started = r.t0;
      if (u) {
        r.t0 = stamp_to_ns(r.t0);
        r.t1 = stamp_to_ns(r.t1);
      }
      if (u == me) {
        copy_ring_words(b, wt, r.nwords, words + o.nword);
        r.woff = uint32_t(o.nword);
        o.nword += r.nwords;
        if (is_primitive(r)) hand_out_primitive(r, started, words + r.woff, tagging);
        recs[o.nrec++] = r;
      } else if (u) {
        if (is_primitive(r)) r.value = int64_t(started);  // its tags are read at that user's drain
        queue_for(u, r, b, wt);
      }
      wt += r.nwords;
    }
    b->wtail.store(wt, std::memory_order_release);
    b->rtail.store(rt, std::memory_order_release);
    o.dropped += b->dropped.exchange(0, std::memory_order_relaxed);
  }
  return o;
}

void pending_counts(const void* env, size_t& nrec, size_t& nword) {
  std::lock_guard<std::mutex> lk(session_mutex());
  User* me = user_of(env);
  nrec = nword = 0;
  if (me) {
    nrec += me->recs.size() - me->next;
    nword += me->words.size();
  }
  for (int i = 0, n = buffer_count(); i < n; i++) {
    ThreadBuf* b = buffer_at(i);
    nrec += b->rhead.load(std::memory_order_acquire) - b->rtail.load(std::memory_order_relaxed);
    nword += b->whead.load(std::memory_order_acquire) - b->wtail.load(std::memory_order_relaxed);
  }
}

}  // namespace mlxtrace
