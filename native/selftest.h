// What the hooks cost, measured in process on fake arrays laid out as the probe verified.
#pragma once
#include <cstdint>

namespace mlxtrace {

double bench_hook(uint64_t iterations);   // ns the hooks add per primitive call
double bench_alloc(uint64_t iterations);  // ns they add per malloc+free pair (after an attach with memory); -1 if none

}  // namespace mlxtrace
