// The process-wide owner of the patches. Every Node environment (the main thread, each worker)
// that uses the hook layer is a user: the patches go in with the first user's attach and come out
// with the last user's detach, or when the last user's environment exits (an environment cleanup
// hook releases it, so a worker that ends without detaching leaves nothing that points into it).
// One user at a time holds the tag tables and the wrap hook's layer state (the tagging user).
#pragma once
#include <mutex>
#include <string>
#include <vector>

#include "image.h"
#include "records.h"

namespace mlxtrace {

struct User {
  const void* env = nullptr;  // napi_env, as a key only
  uint8_t id = 0;             // 1..kMaxUsers while attached, else 0
  uint32_t mark = 0;          // make_mark(id, generation): what its thread's nodes carry
  bool recording = false;
  uint64_t since = 0;  // stamp() when recording last went on: older records belong to no window of it
  // Records another user's drain found for this one (times in ns, tags not yet resolved), and the
  // side words they point at (Rec.woff indexes `words`), waiting for this user's own drain.
  std::vector<Rec> recs;
  std::vector<uint32_t> words;
  size_t next = 0;       // first record of recs not yet handed out
  uint64_t dropped = 0;  // records lost for want of room in recs, not yet reported
};

// Guards everything below and every drain.
std::mutex& session_mutex();

// Under session_mutex():
User* user_of(const void* env);      // null if this environment never called in
User* user_by_mark(uint32_t mark);   // the attached user whose nodes carry it, else null
User* tagging_user();                // null when vacant
User* default_user();                // owner of records no node mark assigns: the tagging user, else the first attached
int attached_users();

// Opens (or reuses) the MLX addon at `path`; "" or why not.
std::string session_open(const void* env, const std::string& path);
const MlxImage* session_image();  // null until opened
// Patches (first user) or joins; "" or why not.
std::string session_attach(const void* env, bool memory);
// Leaves; the last user out removes every patch.
void session_detach(const void* env);
void session_set_recording(const void* env, bool on);
// Whether this environment holds the tag tables; with `claim`, takes them if they are vacant.
bool session_tagging(const void* env, bool claim);
// True the first time an environment loads the addon (its cleanup hook is then added, once).
bool session_env_enter(const void* env);
// The environment is going away: detach and forget it (its cleanup hook).
void session_env_exit(const void* env);

}  // namespace mlxtrace
