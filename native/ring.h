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
};

// Claims the next record and room for up to max_words side words (written from whead on). Null
// when either does not fit: the event is dropped and counted, nothing waits.
inline Rec* ring_reserve(ThreadBuf* b, uint64_t max_words) {
  const uint64_t rh = b->rhead.load(std::memory_order_relaxed);
  const uint64_t wh = b->whead.load(std::memory_order_relaxed);
  if (rh - b->rtail.load(std::memory_order_acquire) >= b->rcap ||
      wh + max_words - b->wtail.load(std::memory_order_acquire) > b->wcap) {
    b->dropped.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return &b->recs[rh & (b->rcap - 1)];
}

// Publishes the reserved record and the nwords side words written after whead.
inline void ring_commit(ThreadBuf* b, uint32_t nwords) {
  b->whead.store(b->whead.load(std::memory_order_relaxed) + nwords, std::memory_order_release);
  b->rhead.store(b->rhead.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

ThreadBuf* thread_buf_slow();  // creates this thread's ring on first use
extern thread_local ThreadBuf* t_buf;
inline ThreadBuf* thread_buf() { return t_buf ? t_buf : thread_buf_slow(); }
void set_buffer_capacity(uint64_t recs, uint64_t words);
int buffer_count();
ThreadBuf* buffer_at(int i);

extern std::atomic<bool> g_recording;
// The class of the primitive this thread is running (kNoClass outside one), for memory events.
extern thread_local uint16_t t_current_cls;

}  // namespace mlxtrace
