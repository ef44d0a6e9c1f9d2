// node-mlx hands every array it makes to JS through napi_wrap, which mlx.node calls through its GOT.
// Swapping that one GOT entry lets each node be tagged with the layer building it at the moment it
// is made, while it is still in the cache, instead of walking the layer's graph when its forward
// returns, a walk that misses the cache several times per node.
#include "wrap-hook.h"

#include <dlfcn.h>

#include <atomic>

#include "patch.h"
#include "layout.h"
#include "owners.h"
#include "tags.h"

namespace mlxtrace {
namespace {

using WrapFn = napi_status (*)(napi_env, napi_value, void*, napi_finalize, void*, napi_ref*);
WrapFn g_real_wrap = nullptr;
void** g_got = nullptr;   // mlx.node's GOT entry for napi_wrap, while swapped
void* g_got_was = nullptr;
// The finalizer node-mlx gives napi_wrap for an mlx::core::array (learned, never assumed): other
// wrapped objects (streams, devices, functions) are not arrays.
napi_finalize g_array_finalize = nullptr;
// The user whose thread holds the tag table (session.cc): every thread's node-mlx calls the same
// GOT entry, and the table is that thread's alone.
std::atomic<uint8_t> g_tagging_user{0};

// While learning: the wraps seen, to find the one of the array JS got back.
bool g_learning = false;
constexpr int kSeen = 16;
void* g_seen_native[kSeen];
napi_finalize g_seen_finalize[kSeen];
int g_nseen = 0;

napi_status hook_wrap(napi_env env, napi_value js, void* native, napi_finalize fin, void* hint, napi_ref* result) {
  const bool array = fin && fin == g_array_finalize;
  const bool mine = t_user && t_user == g_tagging_user.load(std::memory_order_relaxed);
  const napi_status s = g_real_wrap(env, js, native, fin, hint, result);
  if (array) {
    if (s == napi_ok && native) {
      // An array made by any other thread turns node marks on (owners.h), for every thread.
      if (!mine && !g_owners_on.load(std::memory_order_relaxed)) owners_turn_on(native);
      if (g_owners_on.load(std::memory_order_relaxed)) mark_built(native);
      if (mine && g_build.on) tag_built(native);
    }
  } else if (mine && g_learning && g_nseen < kSeen) {
    g_seen_native[g_nseen] = native;
    g_seen_finalize[g_nseen++] = fin;
  }
  return s;
}

}  // namespace

std::string install_wrap_hook(void** got) {
  if (g_got) return "";
  if (!got) return "mlx.node imports no napi_wrap";
  g_real_wrap = reinterpret_cast<WrapFn>(dlsym(RTLD_DEFAULT, "napi_wrap"));
  if (!g_real_wrap) return "napi_wrap not found in this process";
  void* was = *got;
  if (!patch_pointer(got, reinterpret_cast<void*>(&hook_wrap))) return "cannot write mlx.node's GOT entry for napi_wrap";
  g_got = got;
  g_got_was = was;
  return "";
}

void remove_wrap_hook() {
  if (!g_got) return;
  patch_pointer(g_got, g_got_was);
  g_got = nullptr;
}

bool wrap_hook_installed() { return g_got != nullptr; }
void set_tagging_user(uint8_t id) { g_tagging_user.store(id); }
bool array_wrap_known() { return g_array_finalize != nullptr; }

void learn_begin() {
  g_learning = true;
  g_nseen = 0;
}

bool learn_end(const void* array) {
  g_learning = false;
  if (g_array_finalize) return true;
  for (int i = 0; i < g_nseen; i++)
    if (g_seen_native[i] == array && g_seen_finalize[i]) {
      g_array_finalize = g_seen_finalize[i];
      return true;
    }
  return false;
}

}  // namespace mlxtrace
