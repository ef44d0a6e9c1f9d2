#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "clock.h"

namespace mlxtrace {

bool g_use_tsc = false;
uint64_t g_tsc_anchor = 0, g_ns_anchor = 0;  // latest anchor (short distance to the events)
double g_ns_per_tick = 1.0;

namespace {
uint64_t g_tsc0 = 0, g_ns0 = 0;  // first anchor (long baseline for the rate)

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
  g_tsc_anchor = t;
  g_ns_anchor = n;
  g_use_tsc = true;
#endif
}

void clock_refresh() {
  if (!g_use_tsc) return;
  // A drain after every small eval need not re-anchor each time: over a few ms from the anchor the
  // rate's error adds well under a nanosecond.
  if (double(__builtin_ia32_rdtsc() - g_tsc_anchor) * g_ns_per_tick < 2e6) return;
  anchor(g_tsc_anchor, g_ns_anchor);
  if (g_ns_anchor - g_ns0 > 50000000) g_ns_per_tick = double(g_ns_anchor - g_ns0) / double(g_tsc_anchor - g_tsc0);
}

}  // namespace mlxtrace
