#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "clock.h"

namespace mlxtrace {

bool g_use_tsc = false;

namespace {
uint64_t g_tsc0 = 0, g_ns0 = 0;      // first anchor (long baseline for the rate)
uint64_t g_tsc1 = 0, g_ns1 = 0;      // latest anchor (short distance to the events)
double g_ns_per_tick = 1.0;

bool invariant_tsc() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, 5, "flags") == 0)
      return line.find(" constant_tsc") != std::string::npos && line.find(" nonstop_tsc") != std::string::npos;
  return false;
}

void anchor(uint64_t& tsc, uint64_t& ns) {
  // Bracket one clock read between two TSC reads and keep the tightest of a few tries.
  uint64_t best = ~0ull;
  for (int i = 0; i < 5; i++) {
    uint64_t a = __builtin_ia32_rdtsc();
    uint64_t n = now_ns();
    uint64_t b = __builtin_ia32_rdtsc();
    if (b - a < best) {
      best = b - a;
      tsc = a + (b - a) / 2;
      ns = n;
    }
  }
}
}  // namespace

void clock_init() {
#if defined(__x86_64__)
  if (g_tsc0 || !invariant_tsc() || getenv("MLX_TRACE_NO_TSC")) return;
  anchor(g_tsc0, g_ns0);
  // A first rate from a 2 ms wait; refresh() refines it over the whole time since.
  uint64_t t, n;
  do anchor(t, n);
  while (n - g_ns0 < 2000000);
  g_ns_per_tick = double(n - g_ns0) / double(t - g_tsc0);
  g_tsc1 = t;
  g_ns1 = n;
  g_use_tsc = true;
#endif
}

void clock_refresh() {
  if (!g_use_tsc) return;
  // A drain after every small eval need not re-anchor each time: over a few ms from the anchor the
  // rate's error adds well under a nanosecond.
  if (double(__builtin_ia32_rdtsc() - g_tsc1) * g_ns_per_tick < 2e6) return;
  anchor(g_tsc1, g_ns1);
  if (g_ns1 - g_ns0 > 50000000) g_ns_per_tick = double(g_ns1 - g_ns0) / double(g_tsc1 - g_tsc0);
}

uint64_t stamp_to_ns(uint64_t s) {
  if (!g_use_tsc) return s;
  int64_t dt = int64_t(s - g_tsc1);
  return uint64_t(int64_t(g_ns1) + int64_t(double(dt) * g_ns_per_tick));
}

}  // namespace mlxtrace
