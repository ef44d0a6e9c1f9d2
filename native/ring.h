// Per-thread rings the hot path writes events into. A primitive ending or an allocation is a
// reserve, a few stores and a commit into a preallocated ring owned by the running thread; JS
// drains every ring later (drain.cc) and does all formatting there.
#pragma once
#include <atomic>
#include <cstdint>

#include "records.h"

namespace mlxtrace {

// Single producer (its thread), single consumer (the drain). Heads and tails count records and
// words ever written / consumed; capacities are powers of two.
struct ThreadBuf {
  Rec* recs = nullptr;
  uint32_t* words = nullptr;
  uint64_t rcap = 0, wcap = 0;
  uint32_t tid = 0;
  alignas(64) std::atomic<uint64_t> rhead{0};
  std::atomic<uint64_t> whead{0};
  alignas(64) std::atomic<uint64_t> rtail{0};
  std::atomic<uint64_t> wtail{0};
  alignas(64) std::atomic<uint64_t> dropped{0};
  bool retired = false;  // its thread is gone: another thread may take it over once drained
};

// A claim on the next record (rec) and on side words from position wh on.
struct Reservation {
  Rec* rec;
  uint64_t rh, wh;
};

// Claims the next record and room for up to max_words side words. False when either does not
// fit: the event is dropped and counted, nothing waits.
inline bool ring_reserve(ThreadBuf* b, uint64_t max_words, Reservation& r) {
  r.rh = b->rhead.load(std::memory_order_relaxed);
  r.wh = b->whead.load(std::memory_order_relaxed);
  if (r.rh - b->rtail.load(std::memory_order_acquire) >= b->rcap ||
      r.wh + max_words - b->wtail.load(std::memory_order_acquire) > b->wcap) {
    b->dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  r.rec = &b->recs[r.rh & (b->rcap - 1)];
  return true;
}

// Publishes the reserved record and the nwords side words written from r.wh on.
inline void ring_commit(ThreadBuf* b, const Reservation& r, uint32_t nwords) {
  b->whead.store(r.wh + nwords, std::memory_order_release);
  b->rhead.store(r.rh + 1, std::memory_order_release);
}

ThreadBuf* thread_buf_slow();  // creates this thread's ring on first use
extern thread_local ThreadBuf* t_buf;
inline ThreadBuf* thread_buf() { return t_buf ? t_buf : thread_buf_slow(); }
void set_buffer_capacity(uint64_t recs, uint64_t words);
// This thread is going away (a worker's exit): it records nothing more, and its ring goes to the
// next new thread once drained, so threads that come and go do not pile up rings.
void retire_thread_buf();
int buffer_count();
ThreadBuf* buffer_at(int i);

extern std::atomic<bool> g_recording;
// The class of the primitive this thread is running (kNoClass outside one), for memory events.
extern thread_local uint16_t t_current_cls;
// That primitive's start stamp: a memory event inside it is stamped with it (alloc-hooks.cc).
extern thread_local uint64_t t_current_t0;

}  // namespace mlxtrace
