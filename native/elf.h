// Reading a loaded ELF shared object: where it sits in memory, its dynamic symbols and its import
// slots. Platform code only (Linux, x86-64 relocations); nothing here knows MLX.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mlxtrace {

struct Sym {
  std::string name;
  uintptr_t addr;  // where it sits in this process
  size_t size;
};

// The load base of `path`, which must already be loaded in this process. "" or why not.
std::string loaded_base(const std::string& path, uintptr_t& base);

// The defined dynamic symbols of `path` whose names `keep` accepts, at their addresses in this
// process (file address + base). "" or why not.
std::string read_dynsym(const std::string& path, uintptr_t base, bool (*keep)(const char* name), std::vector<Sym>& out);

// Where the loaded object keeps the address of a function it imports (its GOT entry), or null.
void** find_import_slot(const std::string& path, uintptr_t base, const char* name);

}  // namespace mlxtrace
