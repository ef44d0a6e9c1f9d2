// Tagging arrays with their layer as node-mlx makes them (wrap-hook.cc).
#pragma once
#include <node_api.h>

#include <cstdint>
#include <string>

namespace mlxtrace {

// Swaps mlx.node's GOT entry for napi_wrap (found by open_image); "" or why not.
std::string install_wrap_hook(void** got);
void remove_wrap_hook();
bool wrap_hook_installed();
// The user (session.h) whose thread's arrays are tagged with layers as they are made; 0: none.
void set_tagging_user(uint8_t id);
// Whether the finalizer of an array's wrap is known: only then are arrays tagged as they are made.
bool array_wrap_known();
// Learning which wraps are arrays: begin, let JS make one array, end with what napi_unwrap gives
// for it. True when the array's wrap was seen (or was known already).
void learn_begin();
bool learn_end(const void* array);

}  // namespace mlxtrace
