// BigBuffer — a large, zero-filled, writable byte buffer for data that is
// streamed from memory over and over: repacked weight matrices and the
// bandwidth probe's buffer.
//
// Buffers of 2 MiB and more are mapped with mmap at 2 MiB alignment. When huge
// pages are enabled (enable_huge_pages(true), or env TANDEM_HUGE_PAGES=1 at the
// first use) they are also advised MADV_HUGEPAGE, so that with transparent huge
// pages set to "madvise" (Debian's default) or "always" the kernel backs them
// with 2 MiB pages: a decode step reads every weight once, and each 4 KiB page
// costs a TLB miss. Off by default: measured in one process
// (bench/huge_pages_ab), streaming ran 1.03-1.06x faster from huge pages on the
// dev VM and 0.99-1.02x on a Xeon box, but in alternated `tandem bench` runs
// Q8_0 decode was slower with them in 5 of 8 pairs across both hosts
// (bench/results/huge_pages_*.json, decode_roofline_*huge_vs_4k*.json). The
// advice is a hint; nothing depends on it for correctness.
//
// Contract: allocate(n) returns n zero bytes aligned to 64 (2 MiB when n >=
// 2 MiB) or throws tandem::Error naming the size. Ownership: the buffer owns
// the mapping. Thread safety: none of its own; distinct buffers are
// independent; enable_huge_pages() is atomic and affects later allocations.
#pragma once

#include <cstddef>

namespace tandem {

class BigBuffer {
 public:
  // Which pages a large buffer asks for: as the switch says (the default), or,
  // for A/B measurements, huge (MADV_HUGEPAGE when THP is available) or small
  // (MADV_NOHUGEPAGE, so 4 KiB pages even with THP "always").
  enum class Pages { kBySwitch, kHuge, kSmall };

  BigBuffer() = default;
  static BigBuffer allocate(size_t bytes, Pages pages = Pages::kBySwitch);
  ~BigBuffer();
  BigBuffer(BigBuffer&& o) noexcept;
  BigBuffer& operator=(BigBuffer&& o) noexcept;
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;

  // Whether large buffers now get the MADV_HUGEPAGE advice: enabled, and THP not "never".
  static bool huge_pages_usable();
  // Process-wide switch for later allocations (default: env TANDEM_HUGE_PAGES=1).
  static void enable_huge_pages(bool on);

  unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  // Whether the buffer was advised MADV_HUGEPAGE (large enough, asked for huge
  // pages, THP available, advice accepted).
  bool huge_pages_advised() const { return huge_; }

 private:
  unsigned char* data_ = nullptr;  // inside [map_, map_ + map_bytes_)
  size_t size_ = 0;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  bool huge_ = false;
};

}  // namespace tandem
