#include "ring.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>

namespace mlxtrace {

std::atomic<bool> g_recording{false};
thread_local uint16_t t_current_cls = kNoClass;
thread_local uint64_t t_current_t0 = 0;
thread_local ThreadBuf* t_buf = nullptr;

namespace {
constexpr int kMaxThreads = 256;
std::mutex g_mu;
ThreadBuf* g_bufs[kMaxThreads];
std::atomic<int> g_nbufs{0};
uint64_t g_rcap = 1 << 16, g_wcap = 1 << 20;
thread_local bool t_no_buf = false;

uint64_t pow2(uint64_t v) {
  uint64_t p = 64;
  while (p < v) p <<= 1;
  return p;
}
}  // namespace

void set_buffer_capacity(uint64_t recs, uint64_t words) {
  std::lock_guard<std::mutex> lk(g_mu);
  g_rcap = pow2(recs);
  g_wcap = pow2(words);
}

// One allocation per thread, the first time it records; never per event. Buffers outlive their
// threads so that what a finished thread recorded can still be drained; a retired one that is
// drained is taken over instead of allocating.
ThreadBuf* thread_buf_slow() {
  if (t_buf) return t_buf;
  if (t_no_buf) return nullptr;
  std::lock_guard<std::mutex> lk(g_mu);
  int n = g_nbufs.load(std::memory_order_relaxed);
  for (int i = 0; i < n; i++) {
    ThreadBuf* b = g_bufs[i];
    if (!b->retired || b->rcap != g_rcap || b->wcap != g_wcap) continue;
    if (b->rtail.load(std::memory_order_acquire) != b->rhead.load(std::memory_order_relaxed)) continue;
    b->retired = false;
    b->tid = uint32_t(syscall(SYS_gettid));
    t_buf = b;
    return b;
  }
  if (n >= kMaxThreads) {
    t_no_buf = true;
    return nullptr;
  }
  auto* b = new ThreadBuf();
  b->rcap = g_rcap;
  b->wcap = g_wcap;
  b->recs = new Rec[b->rcap];
  b->words = new uint32_t[b->wcap];
  b->tid = uint32_t(syscall(SYS_gettid));
  g_bufs[n] = b;
  g_nbufs.store(n + 1, std::memory_order_release);
  t_buf = b;
  return b;
}

void retire_thread_buf() {
  std::lock_guard<std::mutex> lk(g_mu);
  t_no_buf = true;
  if (t_buf) t_buf->retired = true;
  t_buf = nullptr;
}

int buffer_count() { return g_nbufs.load(std::memory_order_acquire); }
ThreadBuf* buffer_at(int i) { return g_bufs[i]; }

}  // namespace mlxtrace
