#include "elf.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace mlxtrace {
namespace {

// The file, mapped read-only while its tables are read.
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

}  // namespace

std::string loaded_base(const std::string& path, uintptr_t& base) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!h) return path + " is not loaded in this process (load @frost-beta/mlx first)";
  link_map* lm = nullptr;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm) {
    dlclose(h);
    return "cannot find where " + path + " is loaded";
  }
  base = lm->l_addr;
  dlclose(h);  // drops only the reference RTLD_NOLOAD took
  return "";
}

std::string read_dynsym(const std::string& path, uintptr_t base, bool (*keep)(const char* name), std::vector<Sym>& out) {
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
      if (!keep(nm)) continue;
      out.push_back({nm, base + syms[k].st_value, syms[k].st_size});
    }
  }
  return "";
}

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

}  // namespace mlxtrace
