#include "test_util.h"

namespace tandem::gguf {
namespace {

using testing::Bytes;
using testing::expect_error;

// A version-2 file built byte by byte: two kv pairs and one F32 tensor.
std::vector<uint8_t> v2_file() {
  Bytes b = testing::header(2, 1, 2);
  b.str("general.architecture").u32(8).str("llama");
  b.str("llama.block_count").u32(4).u32(12);
  b.bytes(testing::tensor_info("w", {2, 3}, 0, 0));
  b.pad_to(32);
  for (int i = 0; i < 6; ++i) b.f32(static_cast<float>(i) * 0.5f);
  return b.v;
}

TEST(GgufVersion, ReadsVersion2) {
  auto f = File::from_memory(v2_file(), "v2.gguf");
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 12);
  ASSERT_EQ(f->tensors().size(), 1u);
  const TensorInfo& t = f->tensors()[0];
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(t.type, DType::F32);
  EXPECT_EQ(t.nbytes, 24u);
  EXPECT_EQ(t.rows(), 3);
  float x[6];
  std::memcpy(x, t.data, sizeof(x));
  EXPECT_EQ(x[5], 2.5f);
  EXPECT_EQ(f->data_offset() % 32, 0u);
}

TEST(GgufVersion, RejectsVersion1) {
  auto b = v2_file();
  b[4] = 1;
  expect_error(b, {"GGUF version 1 is not supported", "versions 2 and 3"});
}

TEST(GgufVersion, RejectsVersion4) {
  auto b = v2_file();
  b[4] = 4;
  expect_error(b, {"unsupported GGUF version 4", "versions 2 and 3"});
}

TEST(GgufVersion, RejectsBigEndian) {
  auto b = v2_file();
  b[4] = 0;
  b[7] = 3;
  expect_error(b, {"big-endian"});
}

}  // namespace
}  // namespace tandem::gguf
