#include "patch.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace mlxtrace {
namespace {

std::mutex g_patch_mu;

struct MapRange {
  uintptr_t lo, hi;
  int prot;
};
std::vector<MapRange> g_maps;  // read once per session, not once per slot

// One read() of the whole file and a hand parse, not a stream and a scanf per line.
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

}  // namespace

PatchSession::PatchSession() : lock_(g_patch_mu) { load_maps(); }

// The classes' vtables share a few pages: the writes are grouped by page.
bool PatchSession::write(std::vector<SlotWrite> w) {
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

bool patch_pointer(void** where, void* value) {
  PatchSession s;
  return s.write(where, value);
}

}  // namespace mlxtrace
