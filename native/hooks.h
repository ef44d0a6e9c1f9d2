// The trampolines that time MLX's primitives, and attaching them to (and detaching them from) the
// eval slots of every primitive vtable of the image.
#pragma once
#include <string>

#include "image.h"

namespace mlxtrace {

constexpr int kMaxClasses = 256;
using EvalFn = void (*)(void* self, const void* inputs, void* outputs);

// Patches every slot (and with `memory`, the allocator's: alloc-hooks.cc), or restores them. Safe
// against evals running on other threads: each slot is one aligned pointer store, and trampolines
// never go away.
std::string attach(const MlxImage& img, bool memory);
void detach();
bool attached();

// For the self-test (selftest.cc): the CPU trampoline of class index i, and the original function
// it calls, swapped for f (the previous one is returned).
EvalFn cpu_trampoline(int i);
EvalFn set_cpu_original(int i, EvalFn f);

}  // namespace mlxtrace
