// What the hooks cost, measured in process on fake arrays laid out as the probe verified.
#pragma once
#include <cstdint>

namespace mlxtrace {

double bench_hook(uint64_t iterations);   // ns the hooks add per primitive call
double bench_alloc(uint64_t iterations);  // ns they add per malloc+free pair (after an attach with memory); -1 if none

// Random puts, ends and releases on a private TagTable (small address pools that collide, then one
// epoch that fills the table to its largest size), each followed by asking its recent-tags copy
// about the node touched and a random one. Returns the answers recent() gave that find() contradicts.
struct TagTableCheck {
  uint64_t checks = 0, wrong = 0, evicted = 0;
};
TagTableCheck check_tag_table(uint32_t seed);

}  // namespace mlxtrace
