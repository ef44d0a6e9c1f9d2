#include "session.h"

#include <dlfcn.h>

#include <memory>
#include <set>

#include "alloc-hooks.h"
#include "clock.h"
#include "elf.h"
#include "hooks.h"
#include "owners.h"
#include "ring.h"
#include "tags.h"
#include "wrap-hook.h"

namespace mlxtrace {
namespace {

std::mutex g_mu;
std::vector<std::unique_ptr<User>> g_users;  // one per environment that called in
User* g_by_id[kMaxUsers + 1] = {};
User* g_tagging = nullptr;
uint32_t g_generation[kMaxUsers + 1] = {};  // attaches per id so far
MlxImage g_img;
bool g_open = false;
std::set<const void*> g_envs;  // environments with a cleanup hook

User& user(const void* env) {
  for (auto& u : g_users)
    if (u->env == env) return *u;
  g_users.push_back(std::make_unique<User>());
  g_users.back()->env = env;
  return *g_users.back();
}

void update_recording() {
  bool any = false;
  for (auto& u : g_users) any |= u->id && u->recording;
  g_recording.store(any);
}

// The trampolines must outlive every environment: a primitive may be running inside one when the
// environment that loaded this addon unloads it (a worker's exit).
void pin_this_addon() {
  static bool pinned = false;
  Dl_info info;
  if (pinned || !dladdr(reinterpret_cast<void*>(&pin_this_addon), &info) || !info.dli_fname) return;
  pinned = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != nullptr;
}

// Undoes what the first attach did: tagging off first, then the wrap hook and the slots.
void detach_all() {
  g_build.on = 0;
  remove_wrap_hook();
  owners_off();
  detach();
}

void leave(User& u) {
  if (!u.id) return;
  g_by_id[u.id] = nullptr;
  u.id = 0;
  u.mark = 0;
  u.recording = false;
  u.recs.clear();
  u.words.clear();
  u.next = 0;
  if (g_tagging == &u) {
    g_tagging = nullptr;
    g_build.on = 0;
    set_tagging_user(0);
  }
  update_recording();
  if (attached_users() == 0) detach_all();
}

}  // namespace

std::mutex& session_mutex() { return g_mu; }

User* user_of(const void* env) {
  for (auto& u : g_users)
    if (u->env == env) return u.get();
  return nullptr;
}
User* user_by_mark(uint32_t mark) {
  const uint8_t id = mark & 15;
  User* u = id && id <= kMaxUsers ? g_by_id[id] : nullptr;
  return u && u->mark == mark ? u : nullptr;
}
User* tagging_user() { return g_tagging; }
User* default_user() {
  if (g_tagging) return g_tagging;
  for (int i = 1; i <= kMaxUsers; i++)
    if (g_by_id[i]) return g_by_id[i];
  return nullptr;
}
int attached_users() {
  int n = 0;
  for (int i = 1; i <= kMaxUsers; i++) n += g_by_id[i] != nullptr;
  return n;
}

std::string session_open(const void* env, const std::string& path) {
  std::lock_guard<std::mutex> lk(g_mu);
  clock_init();
  uintptr_t base = 0;
  std::string err = loaded_base(path, base);
  if (!err.empty()) return err;
  User& me = user(env);
  const bool same = g_open && g_img.path == path && g_img.base == base;
  const int others = attached_users() - (me.id ? 1 : 0);
  if (others > 0) {
    // Another thread traces through these slots: they stay as they are.
    return same ? "" : "another thread traces a different MLX addon (" + g_img.path + ")";
  }
  // Alone: start afresh, as a first attach. Checks read the vtables, which must then hold MLX's
  // own pointers, not the trampolines.
  leave(me);
  t_user = 0;
  t_mark = 0;
  if (attached()) detach_all();
  // An addon stays loaded where it was: a re-open need not read its symbols again.
  if (same) return "";
  MlxImage img;
  err = open_image(path, img);
  if (!err.empty()) return err;
  g_img = img;
  g_open = true;
  // Without it node marks still work, only less exactly (owners.h): not an error.
  owners_prepare(path, base);
  return "";
}

const MlxImage* session_image() { return g_open ? &g_img : nullptr; }

std::string session_attach(const void* env, bool memory) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_open) return "no MLX addon opened";
  User& me = user(env);
  if (me.id) return "";
  uint8_t id = 1;
  while (id <= kMaxUsers && g_by_id[id]) id++;
  if (id > kMaxUsers) return "too many threads trace MLX at once (" + std::to_string(kMaxUsers) + ")";
  if (!attached()) {
    pin_this_addon();
    std::string err = attach(g_img, memory);
    if (!err.empty()) return err;
    // Without the wrap hook, layers are tagged by walking their graphs (TagGraph): not an error.
    install_wrap_hook(g_img.napi_wrap_slot);
  }
  owners_allow();
  me.id = id;
  me.mark = make_mark(id, ++g_generation[id]);
  g_by_id[id] = &me;
  t_user = id;
  t_mark = me.mark;
  if (!g_tagging) {
    g_tagging = &me;
    set_tagging_user(id);
  }
  return "";
}

void session_detach(const void* env) {
  std::lock_guard<std::mutex> lk(g_mu);
  User* me = user_of(env);
  if (me) leave(*me);
  t_user = 0;
  t_mark = 0;
  // A detach with no user attached (tests, an earlier failed open) still leaves nothing patched.
  if (attached_users() == 0 && attached()) detach_all();
  update_recording();
}

void session_set_recording(const void* env, bool on) {
  std::lock_guard<std::mutex> lk(g_mu);
  User& me = user(env);
  if (on && !me.recording) me.since = stamp();
  me.recording = on;
  // With nothing attached the flag is this caller's alone (no trampoline is in place to read it).
  if (attached_users() == 0) {
    g_recording.store(on);
    return;
  }
  update_recording();
}

bool session_tagging(const void* env, bool claim) {
  std::lock_guard<std::mutex> lk(g_mu);
  User* me = user_of(env);
  if (!me || !me->id) return attached_users() == 0;  // nothing attached: the tables are free
  if (g_tagging == me) return true;
  if (!claim || g_tagging) return false;
  g_tagging = me;
  set_tagging_user(me->id);
  return true;
}

bool session_env_enter(const void* env) {
  std::lock_guard<std::mutex> lk(g_mu);
  return g_envs.insert(env).second;
}

void session_env_exit(const void* env) {
  std::lock_guard<std::mutex> lk(g_mu);
  g_envs.erase(env);
  for (size_t i = 0; i < g_users.size(); i++) {
    if (g_users[i]->env != env) continue;
    leave(*g_users[i]);
    g_users.erase(g_users.begin() + long(i));
    break;
  }
  t_user = 0;
  t_mark = 0;
  update_recording();
  // A worker's thread ends with its environment; the main thread's environment ends with the
  // process. Either way this thread records nothing more.
  flush_free_group();
  retire_thread_buf();
}

}  // namespace mlxtrace
