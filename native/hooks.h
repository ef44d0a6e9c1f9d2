// Finding MLX's primitive classes in the loaded addon and swapping their eval slots for trampolines.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace mlxtrace {

struct PrimitiveClass {
  std::string name;               // "Matmul", "fast::RMSNorm"
  void** vtable = nullptr;        // address point (first virtual function slot)
  size_t nslots = 0;
  void* own_cpu = nullptr;        // the class's own eval_cpu (array& or vector& overload), if exported
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
  void* alloc_malloc = nullptr;   // CommonAllocator::malloc(size_t, bool)
  void* alloc_free = nullptr;     // CommonAllocator::free(Buffer)
  int malloc_slot = -1, free_slot = -1;
  void** napi_wrap_slot = nullptr;  // the addon's GOT entry for napi_wrap (wrap-hook.cc)
};

// Reads the addon at `path` (which must already be loaded in this process) and finds every
// primitive class and the slots to patch. Returns "" on success, else one line saying why not.
std::string open_image(const std::string& path, MlxImage& img);

// Patches every slot (or restores them). Safe against evals running on other threads: each slot is
// one aligned pointer store, and trampolines never go away.
std::string attach(const MlxImage& img, bool memory);
void detach();
bool attached();
// One pointer in the process (a GOT entry) swapped, with the page made writable if it is not.
bool patch_pointer(void** where, void* value);
std::vector<uint64_t> slot_snapshot(const MlxImage& img);
int64_t live_bytes();
// Called by drain, on the JS thread: marks it as the thread whose frees are grouped, and flushes
// its pending group into its ring.
void memory_drain_point();
double bench_hook(uint64_t iterations);   // ns the hooks add per primitive call
double bench_alloc(uint64_t iterations);  // ns they add per malloc+free pair (after attach)
uint64_t untracked_frees();

}  // namespace mlxtrace
