// BigBuffer — a large, zero-filled, writable byte buffer for data that is
// streamed from memory over and over: repacked weight matrices and the
// bandwidth probe's buffer.
//
// Why not std::aligned_alloc: a decode step reads every weight once, so each
// 4 KiB page costs a TLB miss (a two-level page walk under virtualisation) and
// ends the hardware prefetchers' stream. Buffers of 2 MiB and more are mapped
// with mmap at 2 MiB alignment and advised MADV_HUGEPAGE, so that with
// transparent huge pages set to "madvise" (Debian's default) the kernel backs
// them with 2 MiB pages. Smaller buffers and kernels without THP get ordinary
// pages (also with THP "never" or env TANDEM_NO_HUGE_PAGES set, for A/B
// runs); the advice is a hint and nothing depends on it for correctness.
//
// Contract: allocate(n) returns n zero bytes aligned to 64 (2 MiB when n >=
// 2 MiB) or throws tandem::Error naming the size. Ownership: the buffer owns
// the mapping. Thread safety: none of its own; distinct buffers are independent.
#pragma once

#include <cstddef>

namespace tandem {

class BigBuffer {
 public:
  BigBuffer() = default;
  static BigBuffer allocate(size_t bytes);
  ~BigBuffer();
  BigBuffer(BigBuffer&& o) noexcept;
  BigBuffer& operator=(BigBuffer&& o) noexcept;
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;

  // Whether large buffers get the MADV_HUGEPAGE advice in this process (THP not
  // "never", TANDEM_NO_HUGE_PAGES unset); read once.
  static bool huge_pages_usable();

  unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  // Whether the buffer was advised MADV_HUGEPAGE (large enough, THP usable, advice accepted).
  bool huge_pages_advised() const { return huge_; }

 private:
  unsigned char* data_ = nullptr;  // inside [map_, map_ + map_bytes_)
  size_t size_ = 0;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  bool huge_ = false;
};

}  // namespace tandem
