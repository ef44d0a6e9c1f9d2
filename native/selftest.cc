#include "selftest.h"

#include <algorithm>
#include <cstring>

#include "alloc-hooks.h"
#include "clock.h"
#include "hooks.h"
#include "layout.h"
#include "ring.h"
#include "tags.h"

namespace mlxtrace {
namespace {

void noop_eval(void*, const void*, void*) { asm volatile(""); }

// Acts as the ring's consumer so that the timed loops never fill it.
void consume(ThreadBuf* b) {
  if (!b) return;
  b->rtail.store(b->rhead.load());
  b->wtail.store(b->whead.load());
}

}  // namespace

// Two inputs of [64,128] and [128,32] and one [64,32] output through the last class slot's
// trampoline: ns per call through it minus ns per direct call.
double bench_hook(uint64_t iterations) {
  constexpr int kSlot = kMaxClasses - 1;
  struct FakeArray {
    alignas(16) uint8_t desc[256] = {};
    int dims[2];
    void* arr[2];
  };
  static FakeArray fa[3];
  const int shapes[3][2] = {{64, 32}, {64, 128}, {128, 32}};
  for (int i = 0; i < 3; i++) {
    fa[i].dims[0] = shapes[i][0];
    fa[i].dims[1] = shapes[i][1];
    auto* v = reinterpret_cast<int**>(fa[i].desc + g_layout.shape);
    v[0] = fa[i].dims;
    v[1] = fa[i].dims + 2;
    *reinterpret_cast<uint32_t*>(fa[i].desc + g_layout.dtype) = 10;
    fa[i].desc[g_layout.dtype + 4] = 4;
    fa[i].arr[0] = fa[i].desc;
  }
  // std::vector<array>-shaped {begin, end, cap} over arrays of array_size bytes.
  static uint8_t in_arrays[2][16], out_arrays[1][16];
  memcpy(in_arrays[0], &fa[1].arr[0], 8);
  memcpy(in_arrays[1], &fa[2].arr[0], 8);
  memcpy(out_arrays[0], &fa[0].arr[0], 8);
  void* in_vec[3] = {in_arrays[0], in_arrays[0] + 2 * g_layout.array_size, nullptr};
  void* out_vec[3] = {out_arrays[0], out_arrays[0] + g_layout.array_size, nullptr};
  const EvalFn saved = set_cpu_original(kSlot, &noop_eval);
  const bool was = g_recording.exchange(true);
  EvalFn direct = &noop_eval, hooked = cpu_trampoline(kSlot);
  ThreadBuf* b = thread_buf();
  auto run = [&](EvalFn fn) {
    const uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
      fn(nullptr, in_vec, out_vec);
      if ((i & 1023) == 1023) consume(b);
    }
    return double(now_ns() - t0) / double(iterations);
  };
  double base = run(direct), with = run(hooked);
  base = std::min(base, run(direct));
  with = std::min(with, run(hooked));
  consume(b);
  g_recording.store(was);
  set_cpu_original(kSlot, saved);
  return with - base;
}

double bench_alloc(uint64_t iterations) {
  const MallocFn m = orig_malloc();
  const FreeFn f = orig_free();
  if (!block_set_ready() || !m) return -1;
  const bool was = g_recording.exchange(true);
  ThreadBuf* b = thread_buf();
  auto run = [&](bool hooked) {
    const uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
      void* p = hooked ? hook_malloc(nullptr, 64, true) : m(nullptr, 64, true);
      hooked ? hook_free(nullptr, p) : f(nullptr, p);
      if ((i & 1023) == 1023 && b) b->rtail.store(b->rhead.load());
    }
    return double(now_ns() - t0) / double(iterations);
  };
  double base = std::min(run(false), run(false)), with = std::min(run(true), run(true));
  if (b) b->rtail.store(b->rhead.load());
  g_recording.store(was);
  return with - base;
}

TagTableCheck check_tag_table(uint32_t seed) {
  TagTableCheck out;
  TagTable t(16);
  uint64_t x = seed | 1, now = 1;
  auto rnd = [&x] {  // xorshift64
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  auto check = [&](uint64_t d, uint32_t epoch) {
    out.checks++;
    if (!t.recent(d, epoch)) return;
    const TagTable::Entry* e = t.find(d);
    if (!e || !TagTable::same_epoch(e->mark, epoch)) out.wrong++;
  };
  const uint64_t base = 0x7f0000000000ull;
  uint32_t epoch = 1;
  // Pools of 64 to 4096 addresses, 16 bytes apart like ArrayDescs, with every change the SDK makes.
  for (uint32_t round = 0; round < 200; round++) {
    const uint64_t pool = 64ull << (round % 7);
    for (int op = 0; op < 2000; op++) {
      const uint64_t d = base + 16 * (rnd() % pool);
      const uint64_t r = rnd() % 100;
      TagTable::Entry* e = t.find(d);
      if (r < 60) t.put(d, uint32_t(rnd()), TagTable::mark(epoch, uint32_t(rnd() & 7)), now++, e);
      else if (r < 75 && e) t.end(e, now++);
      else if (r < 90 && e) t.release(e);
      else if (r < 92) epoch++;
      check(d, epoch);
      check(base + 16 * (rnd() % pool), epoch);
    }
  }
  // One epoch that outgrows the largest table: live entries of the epoch are evicted.
  epoch++;
  const uint64_t most = uint64_t(TagTable::kMaxSets) * TagTable::kWays * 3 / 2;
  for (uint64_t i = 0; i < most; i++) {
    const uint64_t d = base + 16 * i;
    t.put(d, 1, TagTable::mark(epoch, 0), now++, t.find(d));
    // The copy holds the nodes tagged lately, and an evicted one among them must not stay in it.
    if ((i & 63) == 63)
      for (uint64_t k = i - std::min<uint64_t>(i, 511); k <= i; k++) check(base + 16 * k, epoch);
  }
  out.evicted = t.evicted;
  return out;
}

}  // namespace mlxtrace
