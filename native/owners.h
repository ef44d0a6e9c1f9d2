// Which JS thread built each graph node. MLX runs the evals of every thread on one stream thread,
// so the thread that ran a primitive says nothing about whose eval it belongs to; the node does.
// Nodes are marked only once a second thread makes MLX arrays: a program with one JS thread pays
// nothing for this.
#pragma once
#include <atomic>
#include <cstdint>

namespace mlxtrace {

constexpr uint8_t kMaxUsers = 14;      // threads tracing at once; ids 1..kMaxUsers
constexpr uint8_t kOtherThread = 15;   // the mark of a thread that traces nothing

// This thread's user id (session.cc), 0 when it traces nothing.
extern thread_local uint8_t t_user;
extern std::atomic<bool> g_owners_on;

// Marks the node behind a just-made mlx::core::array, and the unevaluated nodes of its graph not
// yet marked for this thread, with this thread's id (kOtherThread when it traces nothing).
void mark_built(const void* array);

// The id that marked a node, 0 when it is not marked (or its mark was overwritten).
uint8_t owner_of(uint64_t desc);
void owner_prefetch(uint64_t desc);

}  // namespace mlxtrace
