// Which JS thread built each graph node. MLX runs the evals of every thread on one stream thread,
// so the thread that ran a primitive says nothing about whose eval it belongs to; the node does.
// Nodes are marked only once a second thread makes MLX arrays: a program with one JS thread pays
// nothing for this.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "layout.h"

namespace mlxtrace {

constexpr uint8_t kMaxUsers = 14;      // threads tracing at once; ids 1..kMaxUsers
constexpr uint8_t kOtherThread = 15;   // the id in the mark of a thread that traces nothing

// A mark: bits 0-3 the user id (kOtherThread: none), bits 4-15 the generation of that id (a count
// of its attaches), so that a record queued for an earlier holder of the same id is not handed to
// the current holder.
constexpr uint32_t kMarkBits = 16;
inline uint32_t make_mark(uint8_t id, uint32_t generation) { return (generation & 0xFFF) << 4 | id; }

// This thread's user id (session.cc), 0 when it traces nothing, and its mark.
extern thread_local uint8_t t_user;
extern thread_local uint32_t t_mark;
extern std::atomic<bool> g_owners_on;

// Finds the slot through which MLX destroys a node (the dispose method of ArrayDesc's shared_ptr
// control block) in the addon at `path`; "" or why not. Once per opened image (session.cc).
std::string owners_prepare(const std::string& path, uintptr_t base);
// While a user is attached marks may go on (session.cc allows it at the first attach).
void owners_allow();
// Turns marks on, from the napi_wrap hook, with the array just made by a second thread: hooks node
// destruction (checked against `array` first) so that a mark lives exactly as long as its node.
void owners_turn_on(const void* array);
// The last user left: marks off, the destruction hook out, every mark forgotten.
void owners_off();

// Marks the node behind a just-made mlx::core::array, and the unevaluated nodes of its graph not
// yet carrying this thread's mark, with t_mark (kOtherThread's when the thread traces nothing).
void mark_built(const void* array);

// For the trampoline, once a node's primitive has run: the mark of its first output's node (d),
// else, for a node MLX made inside an eval (a Synchronizer) or one whose mark was evicted, the mark
// of its first marked input; 0 when there is none.
uint32_t owner_when_run(uint64_t d, VecView inputs);

}  // namespace mlxtrace
