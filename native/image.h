// The MLX addon's image: its primitive classes, the vtable slots that run them, the allocator's
// slots and the GOT entry of napi_wrap, found from its dynamic symbols and checked against its
// vtables before anything is patched.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mlxtrace {

struct PrimitiveClass {
  std::string name;         // "Matmul", "fast::RMSNorm"
  void** vtable = nullptr;  // address point (first virtual function slot)
  size_t nslots = 0;
  void* own_cpu = nullptr;  // the class's own eval_cpu (array& or vector& overload), if exported
  void* own_gpu = nullptr;
};

struct MlxImage {
  std::string path;
  uintptr_t base = 0;
  std::vector<PrimitiveClass> classes;
  void* unary_cpu_vec = nullptr;  // UnaryPrimitive::eval_cpu(const vector&, vector&)
  void* unary_gpu_vec = nullptr;
  int cpu_slot = -1, gpu_slot = -1;  // index of the vector overloads in every primitive vtable
  void** alloc_vtable = nullptr;
  size_t alloc_nslots = 0;
  void* alloc_malloc = nullptr;  // CommonAllocator::malloc(size_t, bool)
  void* alloc_free = nullptr;    // CommonAllocator::free(Buffer)
  int malloc_slot = -1, free_slot = -1;
  void** napi_wrap_slot = nullptr;  // the addon's GOT entry for napi_wrap (wrap-hook.cc)
};

// Reads the addon at `path` (which must already be loaded in this process) and finds every
// primitive class and the slots to patch. Returns "" on success, else one line saying why not.
std::string open_image(const std::string& path, MlxImage& img);

// Every vtable slot of the image's classes and allocator, and the napi_wrap GOT entry, in order:
// equal before attach and after detach.
std::vector<uint64_t> slot_snapshot(const MlxImage& img);

}  // namespace mlxtrace
