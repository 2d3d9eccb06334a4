// BigBuffer: zero-filled, aligned (2 MiB from 2 MiB up), writable over its whole
// length, movable; huge-page advice only for buffers of 2 MiB and more.
#include "tandem/base/big_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <utility>

namespace tandem {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

bool all_zero(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

TEST(BigBuffer, EmptyHasNoData) {
  BigBuffer b = BigBuffer::allocate(0);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_FALSE(b.huge_pages_advised());
}

TEST(BigBuffer, SmallIsZeroedAlignedAndNotAdvised) {
  BigBuffer b = BigBuffer::allocate(1000);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % 64, 0u);
  EXPECT_TRUE(all_zero(b.data(), 1000));
  EXPECT_FALSE(b.huge_pages_advised());
  b.data()[999] = 7;
  EXPECT_EQ(b.data()[999], 7);
}

TEST(BigBuffer, LargeIsZeroedWritableAndTwoMiBAligned) {
  const size_t n = 5 * kMiB + 3;  // not a multiple of the page size
  BigBuffer b = BigBuffer::allocate(n);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (2 * kMiB), 0u);
  EXPECT_TRUE(all_zero(b.data(), n));
  for (size_t i = 0; i < n; i += 4093) b.data()[i] = static_cast<unsigned char>(i % 251 + 1);
  b.data()[n - 1] = 9;
  for (size_t i = 0; i < n; i += 4093) ASSERT_EQ(b.data()[i], i % 251 + 1) << i;
  EXPECT_EQ(b.data()[n - 1], 9);
}

TEST(BigBuffer, MoveTransfersOwnership) {
  BigBuffer a = BigBuffer::allocate(3 * kMiB);
  a.data()[0] = 42;
  unsigned char* const p = a.data();
  const bool advised = a.huge_pages_advised();
  BigBuffer b = std::move(a);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 3 * kMiB);
  EXPECT_EQ(b.huge_pages_advised(), advised);
  EXPECT_EQ(b.data()[0], 42);
  BigBuffer c = BigBuffer::allocate(100);
  c = std::move(b);  // releases c's own buffer, takes b's
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(b.data(), nullptr);
}

// The switch decides the advice for later buffers; small ones are never advised;
// with the switch on, large ones are advised exactly when THP is not "never".
TEST(BigBuffer, HugePageSwitchControlsTheAdvice) {
  std::string mode;
  std::getline(std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled"), mode);
  const bool thp = !mode.empty() && mode.find("[never]") == std::string::npos;
  BigBuffer::enable_huge_pages(false);
  EXPECT_FALSE(BigBuffer::huge_pages_usable());
  EXPECT_FALSE(BigBuffer::allocate(4 * kMiB).huge_pages_advised());
  BigBuffer::enable_huge_pages(true);
  EXPECT_EQ(BigBuffer::huge_pages_usable(), thp);
  EXPECT_EQ(BigBuffer::allocate(4 * kMiB).huge_pages_advised(), thp);
  EXPECT_FALSE(BigBuffer::allocate(kMiB).huge_pages_advised());
  BigBuffer::enable_huge_pages(false);
}

}  // namespace
}  // namespace tandem
