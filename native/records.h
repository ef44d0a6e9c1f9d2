// Fixed-size event records and the per-thread buffers they are written into.
// The hot path (a primitive ending, an allocation) is a few stores into a preallocated ring owned by
// the running thread; JS drains all rings later and does every bit of formatting there.
#pragma once
#include <atomic>
#include <cstdint>
#include <ctime>

namespace mlxtrace {

enum RecKind : uint8_t { kPrimCpu = 1, kPrimGpu = 2, kMalloc = 3, kFree = 4 };
constexpr uint16_t kNoClass = 0xFFFF;

// 48 bytes. Shapes live in a side ring of 32-bit words; a record says how many words follow it.
struct Rec {
  uint64_t t0;       // begin: a stamp() while in the ring, CLOCK_MONOTONIC ns once drained
  uint64_t t1;       // end
  uint64_t ident;    // primitive: ArrayDesc* of the first output; memory: live bytes after the event
  int64_t value;     // memory: +bytes / -bytes; primitive: layer tag resolved at drain time
  uint32_t tid;      // OS thread id
  uint16_t cls;      // primitive class index; memory: class of the primitive running on this thread
  uint8_t kind;      // RecKind
  uint8_t nin;       // input arrays described in the words
  uint8_t nout;      // output arrays described in the words
  uint8_t flags;     // bit0: array list truncated
  uint16_t nwords;   // words of this record in the side ring
  uint32_t woff;     // offset of those words in a drained batch (set by drain)
};
static_assert(sizeof(Rec) == 48, "Rec must stay 48 bytes");

// Per array in the side ring: header (ndim | dtype<<8 | itemsize<<16 | isOutput<<24),
// ArrayDesc* low and high words, then ndim dims.
constexpr int kMaxArraysIn = 16;
constexpr int kMaxArraysOut = 8;
constexpr int kMaxDims = 12;

struct ThreadBuf {
  Rec* recs = nullptr;
  uint32_t* words = nullptr;
  uint64_t rcap = 0, wcap = 0;  // powers of two
  uint32_t tid = 0;
  alignas(64) std::atomic<uint64_t> rhead{0};
  std::atomic<uint64_t> whead{0};
  alignas(64) std::atomic<uint64_t> rtail{0};
  std::atomic<uint64_t> wtail{0};
  alignas(64) std::atomic<uint64_t> dropped{0};
};

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// The hot path stamps events with the TSC where it is invariant (one instruction, ~15 ns; a
// clock_gettime costs ~60 ns in some VMs), and drain converts ticks to CLOCK_MONOTONIC ns.
extern bool g_use_tsc;
inline uint64_t stamp() {
#if defined(__x86_64__)
  if (g_use_tsc) return __builtin_ia32_rdtsc();
#endif
  return now_ns();
}
// clock.cc: converts a stamp to CLOCK_MONOTONIC ns; refresh() re-anchors (call before converting).
void clock_init();
void clock_refresh();
uint64_t stamp_to_ns(uint64_t stamp);

// recorder.cc
ThreadBuf* thread_buf_slow();             // creates this thread's ring on first use
extern thread_local ThreadBuf* t_buf;
inline ThreadBuf* thread_buf() { return t_buf ? t_buf : thread_buf_slow(); }
void set_buffer_capacity(uint64_t recs, uint64_t words);
int buffer_count();
ThreadBuf* buffer_at(int i);
extern std::atomic<bool> g_recording;
extern thread_local uint16_t t_current_cls;

}  // namespace mlxtrace
