// Writing pointers into the loaded code's tables (vtable slots, GOT entries), whatever the page
// protection. Each write is one aligned pointer store, so other threads calling through a slot see
// either the old or the new pointer.
#pragma once
#include <mutex>
#include <vector>

namespace mlxtrace {

struct SlotWrite {
  void** where;
  void* value;
};

// One batch of writes: holds the process-wide patch lock and reads the memory map once.
class PatchSession {
 public:
  PatchSession();
  // Writes every slot, with one mprotect pair per page rather than per slot. False if a page is
  // not mapped or cannot be made writable (the slots on other pages are still written).
  bool write(std::vector<SlotWrite> w);
  bool write(void** where, void* value) { return write({{where, value}}); }

 private:
  std::lock_guard<std::mutex> lock_;
};

// One pointer in the process swapped (a session of its own).
bool patch_pointer(void** where, void* value);

}  // namespace mlxtrace
