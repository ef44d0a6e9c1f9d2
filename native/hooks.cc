#include "hooks.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <utility>

#include "layout.h"
#include "records.h"

namespace mlxtrace {

Layout g_layout;

namespace {

constexpr int kMaxClasses = 256;
using EvalFn = void (*)(void* self, const void* inputs, void* outputs);

struct Slot {
  void** where = nullptr;
  EvalFn orig = nullptr;
};
Slot g_cpu[kMaxClasses], g_gpu[kMaxClasses];
int g_nclasses = 0;
bool g_attached = false;
std::mutex g_attach_mu;

// ---- the hot path -------------------------------------------------------------------------

struct ClassScope {  // which primitive this thread is running, for allocation attribution
  uint16_t prev;
  explicit ClassScope(uint16_t c) : prev(t_current_cls) { t_current_cls = c; }
  ~ClassScope() { t_current_cls = prev; }
};

inline void copy_words(ThreadBuf* b, uint64_t at, const uint32_t* src, int n) {
  const uint64_t mask = b->wcap - 1;
  for (int i = 0; i < n; i++) b->words[(at + i) & mask] = src[i];
}

constexpr uint32_t kFreeGroup = 256;
struct FreeGroup {
  int64_t bytes = 0;
  int64_t live = 0;
  uint64_t t = 0;
  uint32_t n = 0;
};
thread_local FreeGroup t_frees;
void flush_free_group();

void record_primitive(uint8_t kind, uint16_t cls, uint64_t t0, uint64_t t1, const void* inputs,
                      const void* outputs) {
  if (t_frees.n) flush_free_group();  // keep this thread's events in order
  ThreadBuf* b = thread_buf();
  if (!b) return;
  VecView in = {static_cast<const uint8_t* const*>(inputs)[0],
                static_cast<const uint8_t* const*>(inputs)[1]};
  VecView out = {static_cast<const uint8_t* const*>(outputs)[0],
                 static_cast<const uint8_t* const*>(outputs)[1]};
  const size_t asz = g_layout.array_size;
  int nin = int((in.end - in.begin) / asz), nout = int((out.end - out.begin) / asz);
  uint8_t flags = 0;
  if (nin > kMaxArraysIn) nin = kMaxArraysIn, flags |= 1;
  if (nout > kMaxArraysOut) nout = kMaxArraysOut, flags |= 1;
  const uint64_t rh = b->rhead.load(std::memory_order_relaxed);
  const uint64_t wh = b->whead.load(std::memory_order_relaxed);
  const uint64_t worst = uint64_t(nin + nout) * (3 + kMaxDims);
  if (rh - b->rtail.load(std::memory_order_acquire) >= b->rcap ||
      wh + worst - b->wtail.load(std::memory_order_acquire) > b->wcap) {
    b->dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  uint64_t w = wh;
  const uint64_t mask = b->wcap - 1;
  if ((wh & mask) + worst <= b->wcap) {
    // Common case: the words fit before the ring wraps; write them in place.
    uint32_t* dst = b->words + (wh & mask);
    uint32_t* p = dst;
    for (int i = 0; i < nout; i++) p += describe_array(out.begin + i * asz, true, p);
    for (int i = 0; i < nin; i++) p += describe_array(in.begin + i * asz, false, p);
    w += uint64_t(p - dst);
  } else {
    uint32_t tmp[3 + kMaxDims];
    for (int i = 0; i < nout; i++) {
      int n = describe_array(out.begin + i * asz, true, tmp);
      copy_words(b, w, tmp, n);
      w += n;
    }
    for (int i = 0; i < nin; i++) {
      int n = describe_array(in.begin + i * asz, false, tmp);
      copy_words(b, w, tmp, n);
      w += n;
    }
  }
  Rec& r = b->recs[rh & (b->rcap - 1)];
  r.t0 = t0;
  r.t1 = t1;
  r.ident = nout ? reinterpret_cast<uint64_t>(desc_of(out.begin)) : 0;
  r.value = 0;
  r.tid = b->tid;
  r.cls = cls;
  r.kind = kind;
  r.nin = uint8_t(nin);
  r.nout = uint8_t(nout);
  r.flags = flags;
  r.nwords = uint16_t(w - wh);
  r.woff = 0;
  b->whead.store(w, std::memory_order_release);
  b->rhead.store(rh + 1, std::memory_order_release);
}

template <int N, bool GPU>
void trampoline(void* self, const void* inputs, void* outputs) {
  const Slot& s = GPU ? g_gpu[N] : g_cpu[N];
  if (!g_recording.load(std::memory_order_relaxed)) return s.orig(self, inputs, outputs);
  ClassScope scope{uint16_t(N)};
  const uint64_t t0 = stamp();
  s.orig(self, inputs, outputs);
  const uint64_t t1 = stamp();
  record_primitive(GPU ? kPrimGpu : kPrimCpu, uint16_t(N), t0, t1, inputs, outputs);
}

template <bool GPU, size_t... I>
constexpr std::array<EvalFn, sizeof...(I)> make_table(std::index_sequence<I...>) {
  return {{&trampoline<int(I), GPU>...}};
}
const auto kCpuTramps = make_table<false>(std::make_index_sequence<kMaxClasses>{});
const auto kGpuTramps = make_table<true>(std::make_index_sequence<kMaxClasses>{});

// ---- allocator hooks ----------------------------------------------------------------------

// Blocks allocated while recording, so that a free of memory allocated before attach does not
// push live bytes below the baseline. One bit per 16-byte granule (malloc's alignment), in 64 MB
// regions whose 512 KB bitmaps are mapped on first use. Neighbouring blocks share a word, so the
// bitmap of a whole heap stays in cache: a hashed set of pointers missed the cache on ~every
// malloc and free (~140 ns each, measured with perf). Lock-free: one atomic or/and per event.
class BlockSet {
 public:
  static constexpr int kAddrBits = 47, kRegionShift = 26, kGranuleShift = 4;
  static constexpr uint64_t kRegions = 1ull << (kAddrBits - kRegionShift);
  static constexpr uint64_t kWords = (1ull << (kRegionShift - kGranuleShift)) / 64;
  BlockSet() : regions_(static_cast<std::atomic<uint64_t*>*>(map(kRegions * sizeof(void*)))) {}
  bool ok() const { return regions_ != nullptr; }
  // False when the block cannot be tracked (odd address, no memory for its region's bitmap): the
  // caller counts a drop.
  bool insert(uintptr_t p) {
    uint64_t* w = word(p, true);
    if (!w) return false;
    __atomic_fetch_or(w, bit(p), __ATOMIC_RELAXED);
    return true;
  }
  bool erase(uintptr_t p) {
    uint64_t* w = word(p, false);
    return w && (__atomic_fetch_and(w, ~bit(p), __ATOMIC_RELAXED) & bit(p));
  }
  // Forgets every block. Bitmaps stay mapped (a hook running on another thread may still hold
  // one); MADV_DONTNEED hands their pages back, and they read as zeros after.
  // The bitmaps made are listed: scanning the 16 MB region table took ~1 ms per attach (measured).
  void clear() {
    std::lock_guard<std::mutex> l(grow_);
    for (uint64_t* b : made_) madvise(b, kWords * 8, MADV_DONTNEED);
  }

 private:
  static void* map(size_t n) {
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
  }
  static uint64_t bit(uintptr_t p) { return 1ull << ((p >> kGranuleShift) & 63); }
  uint64_t* word(uintptr_t p, bool make) {
    if (!regions_ || (p >> kAddrBits) || (p & ((1u << kGranuleShift) - 1))) return nullptr;
    std::atomic<uint64_t*>& slot = regions_[p >> kRegionShift];
    uint64_t* b = slot.load(std::memory_order_acquire);
    if (!b) {
      if (!make) return nullptr;
      std::lock_guard<std::mutex> l(grow_);
      b = slot.load(std::memory_order_acquire);
      if (!b) {
        b = static_cast<uint64_t*>(map(kWords * 8));
        if (!b) return nullptr;
        made_.push_back(b);
        slot.store(b, std::memory_order_release);
      }
    }
    const uint64_t g = (p & ((1ull << kRegionShift) - 1)) >> kGranuleShift;
    return b + (g >> 6);
  }
  std::atomic<uint64_t*>* regions_;  // 16 MB of address space, touched one page per 32 GB of heap span
  std::mutex grow_;
  std::vector<uint64_t*> made_;
};
BlockSet* g_blocks = nullptr;
std::atomic<int64_t> g_live{0};
std::atomic<uint64_t> g_untracked_frees{0};

using MallocFn = void* (*)(void* self, size_t size, bool allow_swap);
using FreeFn = void (*)(void* self, void* buffer);
MallocFn g_orig_malloc = nullptr;
FreeFn g_orig_free = nullptr;
void** g_malloc_where = nullptr;
void** g_free_where = nullptr;

void record_memory(uint8_t kind, int64_t delta, int64_t live, uint64_t t = 0) {
  ThreadBuf* b = thread_buf();
  if (!b) return;
  const uint64_t rh = b->rhead.load(std::memory_order_relaxed);
  if (rh - b->rtail.load(std::memory_order_acquire) >= b->rcap) {
    b->dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Rec& r = b->recs[rh & (b->rcap - 1)];
  r.t0 = r.t1 = t ? t : stamp();
  r.ident = uint64_t(live);
  r.value = delta;
  r.tid = b->tid;
  r.cls = t_current_cls;
  r.kind = kind;
  r.nin = r.nout = r.flags = 0;
  r.nwords = 0;
  r.woff = 0;
  b->rhead.store(rh + 1, std::memory_order_release);
}

// Frees on the JS thread come in bursts (node-mlx frees arrays from GC finalizers: thousands at
// once) and as many events would fill the ring and the trace with points no view can tell apart.
// There, up to kFreeGroup consecutive frees become one event (total bytes, live bytes and time
// after the last one). The group is flushed before any other event of that thread and at every
// drain, which runs on that same thread, so nothing waits past a drain.
std::atomic<ThreadBuf*> g_js_buf{nullptr};

void flush_free_group() {
  if (t_frees.n == 0) return;
  record_memory(kFree, -t_frees.bytes, t_frees.live, t_frees.t);
  t_frees = FreeGroup{};
}

// CommonAllocator hands out std::malloc blocks (checked by the probe), so malloc_usable_size is the
// real footprint, and using it on both sides keeps live bytes exact.
void* hook_malloc(void* self, size_t size, bool allow_swap) {
  void* p = g_orig_malloc(self, size, allow_swap);
  if (p && g_recording.load(std::memory_order_relaxed)) {
    if (g_blocks->insert(uintptr_t(p))) {
      if (t_frees.n) flush_free_group();
      int64_t n = int64_t(malloc_usable_size(p));
      record_memory(kMalloc, n, g_live.fetch_add(n, std::memory_order_relaxed) + n);
    } else if (ThreadBuf* b = thread_buf()) {
      // No bitmap for its region (out of memory) or an address malloc cannot return: this block
      // goes untracked, and the trace says so.
      b->dropped.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return p;
}

void hook_free(void* self, void* buffer) {
  if (buffer && g_blocks->erase(uintptr_t(buffer))) {
    int64_t n = int64_t(malloc_usable_size(buffer));
    int64_t live = g_live.fetch_sub(n, std::memory_order_relaxed) - n;
    if (g_recording.load(std::memory_order_relaxed)) {
      if (t_buf && t_buf == g_js_buf.load(std::memory_order_relaxed)) {
        t_frees.bytes += n;
        t_frees.live = live;
        t_frees.t = stamp();
        if (++t_frees.n == kFreeGroup) flush_free_group();
      } else {
        record_memory(kFree, -n, live);
      }
    }
  } else if (buffer) {
    g_untracked_frees.fetch_add(1, std::memory_order_relaxed);
  }
  g_orig_free(self, buffer);
}

// ---- patching -----------------------------------------------------------------------------

struct MapRange {
  uintptr_t lo, hi;
  int prot;
};
std::vector<MapRange> g_maps;  // read once per attach/detach, not once per slot

// One read() of the whole file and a hand parse: ifstream + sscanf per line took ~1 ms per attach.
void load_maps() {
  g_maps.clear();
  static std::vector<char> buf(1 << 16);
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  size_t n = 0;
  for (ssize_t r; (r = read(fd, buf.data() + n, buf.size() - n)) > 0;) {
    n += size_t(r);
    if (n == buf.size()) buf.resize(buf.size() * 2);
  }
  close(fd);
  const char* p = buf.data();
  const char* end = p + n;
  while (p < end) {
    char* q;
    const uintptr_t lo = strtoull(p, &q, 16);
    const uintptr_t hi = *q == '-' ? strtoull(q + 1, &q, 16) : 0;
    if (*q == ' ' && q + 4 < end && hi > lo)
      g_maps.push_back({lo, hi, (q[1] == 'r' ? PROT_READ : 0) | (q[2] == 'w' ? PROT_WRITE : 0) | (q[3] == 'x' ? PROT_EXEC : 0)});
    p = static_cast<const char*>(memchr(q, '\n', size_t(end - q)));
    if (!p) break;
    p++;
  }
}

int page_prot(uintptr_t addr) {
  for (const MapRange& m : g_maps)
    if (addr >= m.lo && addr < m.hi) return m.prot;
  return -1;
}

struct SlotWrite {
  void** where;
  void* value;
};

// Every slot, with one mprotect pair per page rather than per slot: the ~150 classes' vtables share
// a few pages, and a pair per slot made attach and detach cost ~4 ms each (measured).
bool write_slots(std::vector<SlotWrite> w) {
  const uintptr_t pg = uintptr_t(sysconf(_SC_PAGESIZE));
  std::sort(w.begin(), w.end(), [](const SlotWrite& a, const SlotWrite& b) { return a.where < b.where; });
  bool ok = true;
  for (size_t i = 0; i < w.size();) {
    const uintptr_t page = uintptr_t(w[i].where) & ~(pg - 1);
    size_t j = i;
    while (j < w.size() && (uintptr_t(w[j].where) & ~(pg - 1)) == page) j++;
    const int prot = page_prot(uintptr_t(w[i].where));
    const bool ro = prot >= 0 && !(prot & PROT_WRITE);
    if (prot < 0 || (ro && mprotect(reinterpret_cast<void*>(page), pg, prot | PROT_WRITE) != 0)) {
      ok = false;
    } else {
      for (size_t k = i; k < j; k++) __atomic_store_n(w[k].where, w[k].value, __ATOMIC_RELEASE);
      if (ro) mprotect(reinterpret_cast<void*>(page), pg, prot);
    }
    i = j;
  }
  return ok;
}

bool write_slot(void** where, void* value) { return write_slots({{where, value}}); }

// ---- reading the addon's dynamic symbols -------------------------------------------------

struct Sym {
  std::string name;
  uintptr_t addr;
  size_t size;
};

// The addon's file, mapped read-only while its tables are read.
class MappedElf {
 public:
  explicit MappedElf(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      err = "cannot open " + path;
      return;
    }
    struct stat st;
    fstat(fd, &st);
    void* map = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
      err = "cannot map " + path;
      return;
    }
    bytes = static_cast<const uint8_t*>(map);
    size = size_t(st.st_size);
    const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(bytes);
    if (size < sizeof(Elf64_Ehdr) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64)
      err = path + " is not a 64-bit ELF shared object";
  }
  ~MappedElf() {
    if (bytes) munmap(const_cast<uint8_t*>(bytes), size);
  }
  MappedElf(const MappedElf&) = delete;
  MappedElf& operator=(const MappedElf&) = delete;
  const Elf64_Ehdr* header() const { return reinterpret_cast<const Elf64_Ehdr*>(bytes); }
  const Elf64_Shdr* sections() const { return reinterpret_cast<const Elf64_Shdr*>(bytes + header()->e_shoff); }
  template <typename T>
  const T* at(uint64_t off) const { return reinterpret_cast<const T*>(bytes + off); }

  std::string err;
  const uint8_t* bytes = nullptr;
  size_t size = 0;
};

std::string read_dynsym(const std::string& path, uintptr_t base, std::vector<Sym>& out) {
  MappedElf f(path);
  if (!f.err.empty()) return f.err;
  const Elf64_Shdr* sh = f.sections();
  for (int i = 0; i < f.header()->e_shnum; i++) {
    if (sh[i].sh_type != SHT_DYNSYM) continue;
    const auto* syms = f.at<Elf64_Sym>(sh[i].sh_offset);
    const char* strtab = f.at<char>(sh[sh[i].sh_link].sh_offset);
    size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
    for (size_t k = 0; k < n; k++) {
      if (syms[k].st_shndx == SHN_UNDEF || syms[k].st_value == 0) continue;
      const char* nm = strtab + syms[k].st_name;
      if (strncmp(nm, "_ZTVN3mlx4core", 14) != 0 && strncmp(nm, "_ZN3mlx4core", 12) != 0) continue;
      out.push_back({nm, base + syms[k].st_value, syms[k].st_size});
    }
  }
  return "";
}

// Where the loaded addon keeps the address of a function it imports (its GOT entry), or null.
void** find_import_slot(const std::string& path, uintptr_t base, const char* name) {
  MappedElf f(path);
  if (!f.err.empty()) return nullptr;
  const Elf64_Shdr* sh = f.sections();
  for (int i = 0; i < f.header()->e_shnum; i++) {
    if (sh[i].sh_type != SHT_RELA || sh[sh[i].sh_link].sh_type != SHT_DYNSYM) continue;
    const Elf64_Shdr& symsec = sh[sh[i].sh_link];
    const auto* syms = f.at<Elf64_Sym>(symsec.sh_offset);
    const char* strtab = f.at<char>(sh[symsec.sh_link].sh_offset);
    const auto* rel = f.at<Elf64_Rela>(sh[i].sh_offset);
    for (size_t k = 0, n = sh[i].sh_size / sizeof(Elf64_Rela); k < n; k++) {
      const uint32_t type = ELF64_R_TYPE(rel[k].r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      if (strcmp(strtab + syms[ELF64_R_SYM(rel[k].r_info)].st_name, name) == 0)
        return reinterpret_cast<void**>(base + rel[k].r_offset);
    }
  }
  return nullptr;
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

}  // namespace

bool patch_pointer(void** where, void* value) {
  std::lock_guard<std::mutex> lk(g_attach_mu);
  load_maps();
  return write_slot(where, value);
}

std::string open_image(const std::string& path, MlxImage& img) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!h) return path + " is not loaded in this process (load @frost-beta/mlx first)";
  link_map* lm = nullptr;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm) {
    dlclose(h);
    return "cannot find where " + path + " is loaded";
  }
  img.path = path;
  img.base = lm->l_addr;
  dlclose(h);  // drops only the reference RTLD_NOLOAD took

  std::vector<Sym> syms;
  std::string err = read_dynsym(path, img.base, syms);
  if (!err.empty()) return err;

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
  if (img.classes.empty()) return path + " has no MLX primitive classes in its symbols: is it MLX?";
  if (int(img.classes.size()) > kMaxClasses) return "too many primitive classes (" + std::to_string(img.classes.size()) + ")";
  if (!img.unary_cpu_vec) return "UnaryPrimitive::eval_cpu is not exported by " + path + ": unknown MLX build";

  // The vector overload sits at the same index in every primitive's vtable; learn it from a class
  // that overrides it, then require every class to agree.
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
  img.napi_wrap_slot = find_import_slot(path, img.base, "napi_wrap");
  return "";
}

std::string attach(const MlxImage& img, bool memory) {
  std::lock_guard<std::mutex> lk(g_attach_mu);
  if (g_attached) return "";
  load_maps();
  g_nclasses = int(img.classes.size());
  for (int i = 0; i < g_nclasses; i++) {
    const auto& c = img.classes[i];
    g_cpu[i].where = &c.vtable[img.cpu_slot];
    g_cpu[i].orig = reinterpret_cast<EvalFn>(c.vtable[img.cpu_slot]);
    g_gpu[i] = Slot{};
    if (img.gpu_slot >= 0) {
      g_gpu[i].where = &c.vtable[img.gpu_slot];
      g_gpu[i].orig = reinterpret_cast<EvalFn>(c.vtable[img.gpu_slot]);
    }
  }
  std::vector<SlotWrite> hooks, origs;
  for (int i = 0; i < g_nclasses; i++) {
    hooks.push_back({g_cpu[i].where, reinterpret_cast<void*>(kCpuTramps[i])});
    origs.push_back({g_cpu[i].where, reinterpret_cast<void*>(g_cpu[i].orig)});
    if (g_gpu[i].where) {
      hooks.push_back({g_gpu[i].where, reinterpret_cast<void*>(kGpuTramps[i])});
      origs.push_back({g_gpu[i].where, reinterpret_cast<void*>(g_gpu[i].orig)});
    }
  }
  if (!write_slots(hooks)) {
    write_slots(origs);
    return "cannot make the vtables of MLX's primitives writable";
  }
  if (!g_blocks) g_blocks = new BlockSet();
  if (memory) g_blocks->clear();  // live bytes count from this attach on
  // Without its table the memory hooks stay off (primitives are still timed).
  if (memory && g_blocks->ok() && img.malloc_slot >= 0 && img.free_slot >= 0) {
    g_live.store(0);
    g_malloc_where = &img.alloc_vtable[img.malloc_slot];
    g_free_where = &img.alloc_vtable[img.free_slot];
    g_orig_malloc = reinterpret_cast<MallocFn>(img.alloc_malloc);
    g_orig_free = reinterpret_cast<FreeFn>(img.alloc_free);
    write_slot(g_malloc_where, reinterpret_cast<void*>(&hook_malloc));
    write_slot(g_free_where, reinterpret_cast<void*>(&hook_free));
  }
  g_attached = true;
  return "";
}

void detach() {
  std::lock_guard<std::mutex> lk(g_attach_mu);
  if (!g_attached) return;
  load_maps();
  std::vector<SlotWrite> origs;
  for (int i = 0; i < g_nclasses; i++) {
    origs.push_back({g_cpu[i].where, reinterpret_cast<void*>(g_cpu[i].orig)});
    if (g_gpu[i].where) origs.push_back({g_gpu[i].where, reinterpret_cast<void*>(g_gpu[i].orig)});
  }
  write_slots(origs);
  // The free hook stays in place only while pointers it tracks are alive would be more exact, but
  // restoring it means later frees of tracked blocks are simply not counted, which is harmless.
  if (g_malloc_where) write_slot(g_malloc_where, reinterpret_cast<void*>(g_orig_malloc));
  if (g_free_where) write_slot(g_free_where, reinterpret_cast<void*>(g_orig_free));
  g_malloc_where = g_free_where = nullptr;
  g_attached = false;
}

bool attached() { return g_attached; }

std::vector<uint64_t> slot_snapshot(const MlxImage& img) {
  std::vector<uint64_t> out;
  for (const auto& c : img.classes)
    for (size_t i = 0; i < c.nslots; i++) out.push_back(reinterpret_cast<uint64_t>(c.vtable[i]));
  if (img.alloc_vtable)
    for (size_t i = 0; i < img.alloc_nslots; i++) out.push_back(reinterpret_cast<uint64_t>(img.alloc_vtable[i]));
  if (img.napi_wrap_slot) out.push_back(reinterpret_cast<uint64_t>(*img.napi_wrap_slot));
  return out;
}

// ---- self-measurement ----------------------------------------------------------------------

namespace {
void noop_eval(void*, const void*, void*) { asm volatile(""); }
}  // namespace

// Times the hook path on fake arrays laid out as the probe verified (2 inputs of [64,128] and
// [128,32], one [64,32] output): ns per call through the trampoline minus ns per direct call.
double bench_hook(uint64_t iterations) {
  constexpr int kSlot = kMaxClasses - 1;
  struct FakeArray {
    alignas(16) uint8_t desc[256] = {};
    int dims[2];
    void* arr[2];
  };
  static FakeArray fa[3];
  const int shapes[3][2] = {{64, 32}, {64, 128}, {128, 32}};
  for (int i = 0; i < 3; i++) {
    fa[i].dims[0] = shapes[i][0];
    fa[i].dims[1] = shapes[i][1];
    auto* v = reinterpret_cast<int**>(fa[i].desc + g_layout.shape);
    v[0] = fa[i].dims;
    v[1] = fa[i].dims + 2;
    *reinterpret_cast<uint32_t*>(fa[i].desc + g_layout.dtype) = 10;
    fa[i].desc[g_layout.dtype + 4] = 4;
    fa[i].arr[0] = fa[i].desc;
  }
  // std::vector<array>-shaped {begin, end, cap} over arrays of array_size bytes.
  static uint8_t in_arrays[2][16], out_arrays[1][16];
  memcpy(in_arrays[0], &fa[1].arr[0], 8);
  memcpy(in_arrays[1], &fa[2].arr[0], 8);
  memcpy(out_arrays[0], &fa[0].arr[0], 8);
  void* in_vec[3] = {in_arrays[0], in_arrays[0] + 2 * g_layout.array_size, nullptr};
  void* out_vec[3] = {out_arrays[0], out_arrays[0] + g_layout.array_size, nullptr};
  Slot saved = g_cpu[kSlot];
  g_cpu[kSlot].orig = &noop_eval;
  const bool was = g_recording.exchange(true);
  EvalFn direct = &noop_eval, hooked = kCpuTramps[kSlot];
  ThreadBuf* b = thread_buf();
  auto run = [&](EvalFn fn) {
    const uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
      fn(nullptr, in_vec, out_vec);
      if ((i & 1023) == 1023 && b) {  // act as the consumer so the ring never fills
        b->rtail.store(b->rhead.load());
        b->wtail.store(b->whead.load());
      }
    }
    return double(now_ns() - t0) / double(iterations);
  };
  double base = run(direct), with = run(hooked);
  base = std::min(base, run(direct));
  with = std::min(with, run(hooked));
  if (b) {
    b->rtail.store(b->rhead.load());
    b->wtail.store(b->whead.load());
  }
  g_recording.store(was);
  g_cpu[kSlot] = saved;
  return with - base;
}

// The same for one allocation and its free through the allocator hooks.
double bench_alloc(uint64_t iterations) {
  if (!g_blocks) g_blocks = new BlockSet();
  if (!g_orig_malloc || !g_blocks->ok()) return -1;
  const bool was = g_recording.exchange(true);
  ThreadBuf* b = thread_buf();
  auto run = [&](bool hooked) {
    const uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < iterations; i++) {
      void* p = hooked ? hook_malloc(nullptr, 64, true) : g_orig_malloc(nullptr, 64, true);
      hooked ? hook_free(nullptr, p) : g_orig_free(nullptr, p);
      if ((i & 1023) == 1023 && b) b->rtail.store(b->rhead.load());
    }
    return double(now_ns() - t0) / double(iterations);
  };
  double base = std::min(run(false), run(false)), with = std::min(run(true), run(true));
  if (b) b->rtail.store(b->rhead.load());
  g_recording.store(was);
  return with - base;
}

int64_t live_bytes() { return g_live.load(); }

void memory_drain_point() {
  g_js_buf.store(thread_buf(), std::memory_order_relaxed);
  flush_free_group();
}
uint64_t untracked_frees() { return g_untracked_frees.load(); }

}  // namespace mlxtrace
