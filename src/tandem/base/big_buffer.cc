#include "tandem/base/big_buffer.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>

#include "tandem/base/error.h"

namespace tandem {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;

// Transparent huge pages not "never" (nor compiled out: no sysfs file).
bool thp_available() {
  static const bool available = [] {
    std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string mode;
    return std::getline(f, mode) && mode.find("[never]") == std::string::npos;
  }();
  return available;
}

// -1: not decided yet (env TANDEM_HUGE_PAGES=1 decides at first use); 0 off; 1 on.
std::atomic<int> g_enabled{-1};
}  // namespace

void BigBuffer::enable_huge_pages(bool on) {
  g_enabled.store(on ? 1 : 0, std::memory_order_relaxed);
}

bool BigBuffer::huge_pages_usable() {
  int on = g_enabled.load(std::memory_order_relaxed);
  if (on < 0) {
    const char* v = std::getenv("TANDEM_HUGE_PAGES");
    int expected = -1;
    g_enabled.compare_exchange_strong(expected, v != nullptr && std::string(v) == "1" ? 1 : 0);
    on = g_enabled.load(std::memory_order_relaxed);
  }
  return on == 1 && thp_available();
}

BigBuffer BigBuffer::allocate(size_t bytes) {
  BigBuffer b;
  b.size_ = bytes;
  if (bytes == 0) return b;
  const bool big = bytes >= kHugePage;
  const size_t align = big ? kHugePage : 64;
  // Over-map by one alignment unit and start at the first aligned address.
  const size_t len = (bytes + align - 1) / align * align + (big ? kHugePage : 0);
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) fail("cannot allocate {} MiB of memory", (bytes + (1 << 20) - 1) >> 20);
  b.map_ = m;
  b.map_bytes_ = len;
  const auto base = reinterpret_cast<uintptr_t>(m);
  b.data_ = reinterpret_cast<unsigned char*>((base + align - 1) / align * align);
  if (big && huge_pages_usable())
    b.huge_ = madvise(b.data_, (bytes + kHugePage - 1) / kHugePage * kHugePage, MADV_HUGEPAGE) == 0;
  return b;
}

BigBuffer::~BigBuffer() {
  if (map_) munmap(map_, map_bytes_);
}

BigBuffer::BigBuffer(BigBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      map_(std::exchange(o.map_, nullptr)),
      map_bytes_(std::exchange(o.map_bytes_, 0)),
      huge_(std::exchange(o.huge_, false)) {}

BigBuffer& BigBuffer::operator=(BigBuffer&& o) noexcept {
  if (this != &o) {
    if (map_) munmap(map_, map_bytes_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    map_ = std::exchange(o.map_, nullptr);
    map_bytes_ = std::exchange(o.map_bytes_, 0);
    huge_ = std::exchange(o.huge_, false);
  }
  return *this;
}

}  // namespace tandem
