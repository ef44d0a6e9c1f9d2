// Which JS thread built each graph node. MLX runs the evals of every thread on one stream thread,
// so the thread that ran a primitive says nothing about whose eval it belongs to; the node does.
// Nodes are marked only once a second thread makes MLX arrays: a program with one JS thread pays
// nothing for this.
#pragma once
#include <atomic>
#include <cstdint>

namespace mlxtrace {

constexpr uint8_t kMaxUsers = 14;      // threads tracing at once; ids 1..kMaxUsers
constexpr uint8_t kOtherThread = 15;   // the id in the mark of a thread that traces nothing

// A mark: bits 0-3 the user id (kOtherThread: none), bits 4-16 the generation of that id (a
// count of its attaches), so that a mark left by an earlier holder of the same id, on a node at
// an address MLX reuses, is not taken for the current holder's.
constexpr uint32_t kMarkBits = 17;
inline uint32_t make_mark(uint8_t id, uint32_t generation) { return (generation & 0x1FFF) << 4 | id; }

// This thread's user id (session.cc), 0 when it traces nothing, and its mark.
extern thread_local uint8_t t_user;
extern thread_local uint32_t t_mark;
extern std::atomic<bool> g_owners_on;

// Marks the node behind a just-made mlx::core::array, and the unevaluated nodes of its graph not
// yet carrying this thread's mark, with t_mark (kOtherThread's when the thread traces nothing).
void mark_built(const void* array);

// The mark of a node, 0 when it is not marked (or its mark was overwritten).
uint32_t owner_of(uint64_t desc);

}  // namespace mlxtrace
