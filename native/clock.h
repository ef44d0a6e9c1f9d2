// Timestamps: the hot path stamps events cheaply; the drain turns stamps into CLOCK_MONOTONIC ns.
#pragma once
#include <cstdint>
#include <ctime>

namespace mlxtrace {

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// The TSC where it is invariant (one instruction, where a clock_gettime may be a system call in a
// VM), else CLOCK_MONOTONIC ns.
extern bool g_use_tsc;
// Always inlined: the hot path calls it twice per primitive, and a call around one instruction costs.
[[gnu::always_inline]] inline uint64_t stamp() {
#if defined(__x86_64__)
  if (g_use_tsc) return __builtin_ia32_rdtsc();
#endif
  return now_ns();
}

// clock_init() picks the stamp source once; clock_refresh() re-anchors ticks to ns (call before
// converting a batch); stamp_to_ns() converts one stamp.
void clock_init();
void clock_refresh();

// The latest anchor (a TSC reading and its CLOCK_MONOTONIC ns) and the rate, set by clock_init()
// and clock_refresh().
extern uint64_t g_tsc_anchor, g_ns_anchor;
extern double g_ns_per_tick;

// Inline: the drain converts two stamps per record.
inline uint64_t stamp_to_ns(uint64_t s) {
  if (!g_use_tsc) return s;
  const int64_t dt = int64_t(s - g_tsc_anchor);
  return uint64_t(int64_t(g_ns_anchor) + int64_t(double(dt) * g_ns_per_tick));
}

}  // namespace mlxtrace
