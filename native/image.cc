#include "image.h"

#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "elf.h"
#include "hooks.h"
#include "layout.h"

namespace mlxtrace {

Layout g_layout;

namespace {

bool is_mlx_symbol(const char* nm) {
  return strncmp(nm, "_ZTVN3mlx4core", 14) == 0 || strncmp(nm, "_ZN3mlx4core", 12) == 0;
}

// "_ZTVN3mlx4core4fast7RMSNormE" -> encoded "4fast7RMSNorm", readable "fast::RMSNorm".
bool parse_nested(const char* p, std::string& encoded, std::string& readable) {
  const char* start = p;
  while (*p >= '1' && *p <= '9') {
    int len = 0;
    while (*p >= '0' && *p <= '9') len = len * 10 + (*p++ - '0');
    if (int(strnlen(p, size_t(len))) < len) return false;
    if (!readable.empty()) readable += "::";
    readable.append(p, size_t(len));
    p += len;
  }
  encoded.assign(start, size_t(p - start));
  return *p == 'E' && !readable.empty();
}

bool takes_output_vector(const std::string& mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
  if (!d) return false;
  std::string s(d);
  free(d);
  return s.find("std::vector<mlx::core::array, std::allocator<mlx::core::array> >&)") != std::string::npos;
}

int find_slot(void** vt, size_t n, void* fn) {
  for (size_t i = 0; i < n; i++)
    if (vt[i] == fn) return int(i);
  return -1;
}

// Sorts the symbols into vtables (primitive classes, the allocator) and eval methods.
void collect_classes(const std::vector<Sym>& syms, MlxImage& img) {
  std::map<std::string, size_t> by_encoded;  // encoded nested name -> class index
  std::map<std::string, std::pair<void*, bool>> cpu_methods, gpu_methods;  // encoded -> (addr, vector overload)
  for (const Sym& s : syms) {
    std::string enc, name;
    if (s.name.compare(0, 14, "_ZTVN3mlx4core") == 0) {
      if (!parse_nested(s.name.c_str() + 14, enc, name)) continue;
      if (name == "allocator::CommonAllocator") {
        img.alloc_vtable = reinterpret_cast<void**>(s.addr) + 2;
        img.alloc_nslots = s.size / sizeof(void*) - 2;
        continue;
      }
      PrimitiveClass c;
      c.name = name;
      c.vtable = reinterpret_cast<void**>(s.addr) + 2;  // skip offset-to-top and typeinfo
      c.nslots = s.size / sizeof(void*) - 2;
      by_encoded[enc] = img.classes.size();
      img.classes.push_back(c);
      continue;
    }
    size_t at = s.name.find("8eval_cpuE");
    bool gpu = false;
    if (at == std::string::npos) {
      at = s.name.find("8eval_gpuE");
      gpu = true;
    }
    if (at != std::string::npos) {
      std::string enc2 = s.name.substr(12, at - 12);
      bool vec = takes_output_vector(s.name);
      if (enc2 == "14UnaryPrimitive") {
        if (vec) (gpu ? img.unary_gpu_vec : img.unary_cpu_vec) = reinterpret_cast<void*>(s.addr);
        continue;
      }
      (gpu ? gpu_methods : cpu_methods)[enc2] = {reinterpret_cast<void*>(s.addr), vec};
      continue;
    }
    if (s.name == "_ZN3mlx4core9allocator15CommonAllocator6mallocEmb") img.alloc_malloc = reinterpret_cast<void*>(s.addr);
    if (s.name == "_ZN3mlx4core9allocator15CommonAllocator4freeENS1_6BufferE") img.alloc_free = reinterpret_cast<void*>(s.addr);
  }

  // Keep only classes that implement eval_cpu: those are the primitives.
  std::vector<PrimitiveClass> prims;
  for (auto& [enc, idx] : by_encoded) {
    auto it = cpu_methods.find(enc);
    if (it == cpu_methods.end()) continue;
    PrimitiveClass c = img.classes[idx];
    c.own_cpu = it->second.first;
    auto g = gpu_methods.find(enc);
    if (g != gpu_methods.end()) c.own_gpu = g->second.first;
    prims.push_back(c);
  }
  img.classes.swap(prims);
}

// The vector overload sits at the same index in every primitive's vtable; learn it from a class
// that overrides it, then require every class to agree. "" or why the vtables are not as expected.
std::string check_slots(MlxImage& img) {
  for (const auto& c : img.classes) {
    if (img.cpu_slot < 0) {
      int i = find_slot(c.vtable, c.nslots, img.unary_cpu_vec);
      if (i >= 0) img.cpu_slot = i;
    }
    if (img.gpu_slot < 0 && img.unary_gpu_vec) {
      int i = find_slot(c.vtable, c.nslots, img.unary_gpu_vec);
      if (i >= 0) img.gpu_slot = i;
    }
  }
  if (img.cpu_slot < 0) return "no vtable holds UnaryPrimitive::eval_cpu: unknown MLX ABI";
  for (const auto& c : img.classes) {
    if (size_t(img.cpu_slot) >= c.nslots) return "vtable of " + c.name + " is too short: unknown MLX ABI";
    void* v = c.vtable[img.cpu_slot];
    if (v != img.unary_cpu_vec && v != c.own_cpu)
      return "vtable slot " + std::to_string(img.cpu_slot) + " of " + c.name +
             " holds neither its eval_cpu nor UnaryPrimitive's: unknown MLX ABI";
    if (v == img.unary_cpu_vec && find_slot(c.vtable, c.nslots, c.own_cpu) < 0)
      return c.name + "::eval_cpu is not in its vtable: unknown MLX ABI";
    if (img.gpu_slot >= 0) {
      void* g = c.vtable[img.gpu_slot];
      if (g != img.unary_gpu_vec && g != c.own_gpu)
        return "vtable slot " + std::to_string(img.gpu_slot) + " of " + c.name + " is not eval_gpu: unknown MLX ABI";
    }
  }
  if (img.alloc_vtable && img.alloc_malloc && img.alloc_free) {
    img.malloc_slot = find_slot(img.alloc_vtable, img.alloc_nslots, img.alloc_malloc);
    img.free_slot = find_slot(img.alloc_vtable, img.alloc_nslots, img.alloc_free);
  }
  return "";
}

}  // namespace

std::string open_image(const std::string& path, MlxImage& img) {
  std::string err = loaded_base(path, img.base);
  if (!err.empty()) return err;
  img.path = path;
  std::vector<Sym> syms;
  err = read_dynsym(path, img.base, &is_mlx_symbol, syms);
  if (!err.empty()) return err;
  collect_classes(syms, img);
  if (img.classes.empty()) return path + " has no MLX primitive classes in its symbols: is it MLX?";
  if (int(img.classes.size()) > kMaxClasses) return "too many primitive classes (" + std::to_string(img.classes.size()) + ")";
  if (!img.unary_cpu_vec) return "UnaryPrimitive::eval_cpu is not exported by " + path + ": unknown MLX build";
  err = check_slots(img);
  if (!err.empty()) return err;
  img.napi_wrap_slot = find_import_slot(path, img.base, "napi_wrap");
  return "";
}

std::vector<uint64_t> slot_snapshot(const MlxImage& img) {
  std::vector<uint64_t> out;
  for (const auto& c : img.classes)
    for (size_t i = 0; i < c.nslots; i++) out.push_back(reinterpret_cast<uint64_t>(c.vtable[i]));
  if (img.alloc_vtable)
    for (size_t i = 0; i < img.alloc_nslots; i++) out.push_back(reinterpret_cast<uint64_t>(img.alloc_vtable[i]));
  if (img.napi_wrap_slot) out.push_back(reinterpret_cast<uint64_t>(*img.napi_wrap_slot));
  return out;
}

}  // namespace mlxtrace
