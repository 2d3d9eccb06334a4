#include "tandem/base/big_buffer.h"

#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
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

// The switch, first set from env TANDEM_HUGE_PAGES=1.
std::atomic<bool>& enabled() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("TANDEM_HUGE_PAGES");
    return v != nullptr && std::string_view(v) == "1";
  }();
  return on;
}
}  // namespace

void BigBuffer::enable_huge_pages(bool on) {
  enabled().store(on, std::memory_order_relaxed);
}

bool BigBuffer::huge_pages_usable() {
  return enabled().load(std::memory_order_relaxed) && thp_available();
}

BigBuffer BigBuffer::allocate(size_t bytes, Pages pages) {
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
  if (!big) return b;
  const size_t advised = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  if (pages == Pages::kSmall)
    madvise(b.data_, advised, MADV_NOHUGEPAGE);
  else if (pages == Pages::kHuge ? thp_available() : huge_pages_usable())
    b.huge_ = madvise(b.data_, advised, MADV_HUGEPAGE) == 0;
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
