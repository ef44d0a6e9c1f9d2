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
  g_tags.release(e);
}

// Where a drain puts what it hands out. A sink says whether a record fits (else the drain stops and
// says more: the record stays for the next call) and takes it with its side words, contiguous.
// put() may refuse one (false: it stays too), and the drain then stops the same way.

// Records and side words, as records.h lays them out (drain(): tests and diagnostics).
struct RecSink {
  Rec* recs;
  size_t rcap;
  uint32_t* words;
  size_t wcap;
  DrainOut& o;
  bool tagging;
  bool fits(const Rec& r) const { return o.nrec < rcap && o.nword + r.nwords <= wcap; }
  bool put(Rec r, uint64_t started, const uint32_t* w) {
    if (r.nwords) memcpy(words + o.nword, w, r.nwords * 4);
    r.woff = uint32_t(o.nword);
    o.nword += r.nwords;
    if (is_primitive(r)) {
      if (tagging) resolve_tags(r, started);
      else r.value = 0;
      r.ident = intern_signature(words + r.woff, r.nwords, r.nin, r.nout, r.cls);
    }
    recs[o.nrec++] = r;
    return true;
  }
};

// The SDK's columns (drain.h Columns): nothing of a record is copied that the SDK does not keep.
struct ColumnSink {
  Columns& c;
  bool tagging;
  bool fits(const Rec& r) const {
    if (!is_primitive(r)) return c.mem.n < c.mem.cap || c.mem.n >= c.mem.limit;
    if (r.cls == c.sync_cls) return c.nsync < c.sync_cap;
    return c.prim.n < c.prim.cap || c.prim.n >= c.prim.limit;
  }
  bool put(Rec r, uint64_t started, const uint32_t* w) {
    if (!is_primitive(r)) {
      if (c.mem.n >= c.mem.limit) {
        c.mem.dropped++;
        return true;
      }
      const size_t i = c.mem.n++;
      c.mem.t[i] = double(r.t0);
      c.mem.delta[i] = double(r.value);
      c.mem.live[i] = double(int64_t(r.ident));
      c.mem.cls[i] = r.cls == kNoClass ? int16_t(-1) : int16_t(r.cls);
      return true;
    }
    if (r.cls == c.sync_cls) {  // an eval's completion marker: the SDK needs its times, in order
      double* s = c.syncs + 3 * c.nsync++;
      s[0] = double(c.prim.n);
      s[1] = double(r.t0);
      s[2] = double(r.t1);
      return true;
    }
    if (c.prim.n >= c.prim.limit) {
      c.prim.dropped++;
      return true;
    }
    // Numbered before the tags are read: reading them uses the node's entry up, and a record the
    // full table refuses is read again at the next call.
    const uint32_t sig = intern_signature(w, r.nwords, r.nin, r.nout, r.cls);
    if (sig == kNoSignature && signatures_full()) return false;
    uint32_t fast = 0;
    double layer = 0;
    if (tagging) {
      resolve_tags(r, started);
      layer = double(r.value);
      fast = (r.flags & kFlagFastMask) >> kFlagFastShift;
    }
    const size_t i = c.prim.n++;
    c.prim.t0[i] = double(r.t0);
    c.prim.t1[i] = double(r.t1);
    c.prim.layer[i] = layer;
    c.prim.thread[i] = int32_t(r.tid);
    c.prim.cls[i] = r.cls;
    c.prim.flags[i] = uint8_t((r.kind == kPrimGpu ? kColGpu : 0) | (r.flags & kFlagTruncated ? kColTruncated : 0) | fast << kColFastShift);
    c.prim.sig[i] = sig;
    return true;
  }
};

// Contiguous side words of a ring record: in place unless the ring wraps inside them.
inline const uint32_t* ring_words(const ThreadBuf* b, uint64_t from, uint32_t n, uint32_t* tmp) {
  const uint64_t wmask = b->wcap - 1;
  const uint64_t at = from & wmask;
  if (at + n <= b->wcap) return b->words + at;
  for (uint32_t k = 0; k < n; k++) tmp[k] = b->words[(from + k) & wmask];
  return tmp;
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

// Hands `me` what other users' drains queued for it; false when the sink filled up first.
template <class Sink>
bool take_queue(User* me, Sink& sink) {
  for (; me->next < me->recs.size(); me->next++) {
    const Rec& r = me->recs[me->next];
    // A queued primitive carries its start stamp in value (queue_for).
    if (!sink.fits(r) || !sink.put(r, uint64_t(r.value), me->words.data() + r.woff)) return false;
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
  uint32_t tmp[(kMaxArraysIn + kMaxArraysOut) * kMaxArrayWords];
  const uint32_t* w = ring_words(b, wt, r.nwords, tmp);
  if (r.nwords) memcpy(u->words.data() + r.woff, w, r.nwords * 4);
  u->recs.push_back(r);
}

// The drain itself, whatever the sink: me's queue first, then every thread's ring in order.
template <class Sink>
void drain_to(User* me, bool route, Sink& sink, DrainOut& o) {
  if (me) {
    o.dropped += me->dropped;
    me->dropped = 0;
    if (!take_queue(me, sink)) {
      o.more = true;
      return;
    }
  }
  const bool tagging = sink.tagging;
  uint32_t tmp[(kMaxArraysIn + kMaxArraysOut) * kMaxArrayWords];
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
      if (u == me && !sink.fits(r)) {
        o.more = true;
        break;
      }
      const uint64_t started = r.t0;
      if (u) {
        r.t0 = stamp_to_ns(r.t0);
        r.t1 = stamp_to_ns(r.t1);
      }
      if (u == me) {
        if (!sink.put(r, started, ring_words(b, wt, r.nwords, tmp))) {
          o.more = true;
          break;
        }
      } else if (u) {
        if (is_primitive(r)) r.value = int64_t(started);  // its tags are read at that user's drain
        queue_for(u, r, b, wt);
      }
      wt += r.nwords;
    }
    // The tails share a line the producer reads at every reserve, and a locked exchange waits for
    // those stores to land: an empty ring is left untouched, and drops are asked before taken.
    if (rt != b->rtail.load(std::memory_order_relaxed)) {
      b->wtail.store(wt, std::memory_order_release);
      b->rtail.store(rt, std::memory_order_release);
    }
    if (b->dropped.load(std::memory_order_relaxed) != 0) o.dropped += b->dropped.exchange(0, std::memory_order_relaxed);
  }
}

// One drain of env's user into the sink make_sink(o, tagging) makes, under the session lock: the
// memory events, the clock and the signature table readied, then drain_to.
template <class MakeSink>
DrainOut drain_with(const void* env, MakeSink make_sink) {
  DrainOut o;
  std::lock_guard<std::mutex> lk(session_mutex());
  User* me = user_of(env);
  memory_drain_point();
  clock_refresh();
  signatures_drain_start();
  o.generation = signature_generation();
  // With one user and one JS thread making arrays, every record is that user's.
  const bool route = g_owners_on.load(std::memory_order_relaxed) || attached_users() > 1 || !me || !me->id;
  auto sink = make_sink(o, me && me == tagging_user());
  drain_to(me, route, sink, o);
  return o;
}

}  // namespace

DrainOut drain_into(const void* env, Rec* recs, size_t rcap, uint32_t* words, size_t wcap) {
  return drain_with(env, [&](DrainOut& o, bool tagging) { return RecSink{recs, rcap, words, wcap, o, tagging}; });
}

DrainOut drain_columns(const void* env, Columns& c) {
  return drain_with(env, [&](DrainOut&, bool tagging) { return ColumnSink{c, tagging}; });
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
