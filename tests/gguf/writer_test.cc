#include "test_util.h"

namespace tandem::gguf {
namespace {

TEST(GgufWriter, RejectsDataSizeNotMatchingShape) {
  Writer w;
  std::vector<uint8_t> data(100);
  w.add_tensor("ok", DType::F32, {25}, data);
  EXPECT_EQ(error_of([&] {
              w.add_tensor("w", DType::F32, {5, 6}, data);
            }),
            "GGUF writer: tensor 'w' (F32 [5, 6]) needs 120 bytes of data, got 100");
  EXPECT_EQ(error_of([&] { w.add_tensor("q", DType::Q8_0, {64}, data); }),
            "GGUF writer: tensor 'q' (Q8_0 [64]) needs 68 bytes of data, got 100");
  EXPECT_EQ(w.tensor_count(), 1u);  // only the valid one was added
}

TEST(GgufWriter, RejectsBadShapes) {
  Writer w;
  auto fill = [](uint8_t*, size_t) {};
  EXPECT_NE(error_of([&] {
              w.add_tensor("q", DType::Q4_0, {33}, fill);
            }).find("has ne[0] = 33, not a multiple of the Q4_0 block size 32"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              w.add_tensor("z", DType::F32, {4, 0}, fill);
            }).find("dimension 1 is 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              w.add_tensor("d", DType::F32, {1, 1, 1, 1, 1}, fill);
            }).find("has 5 dimensions"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.add_tensor("e", DType::F32, {}, fill); }).find("has 0 dimensions"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              w.add_tensor("big", DType::F32, {int64_t{1} << 40, int64_t{1} << 40}, fill);
            }).find("absurd shape"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              w.add_tensor(std::string(65, 'x'), DType::F32, {1}, fill);
            }).find("the limit is 64"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.add_tensor("", DType::F32, {1}, fill); }).find("must not be empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              w.add_tensor("t", static_cast<DType>(99), {1}, fill);
            }).find("unknown type id 99"),
            std::string::npos);
  EXPECT_EQ(w.tensor_count(), 0u);
}

TEST(GgufWriter, RejectsDuplicateTensorNames) {
  Writer w;
  std::vector<uint8_t> data(16);
  w.add_tensor("w", DType::F32, {4}, data);
  EXPECT_EQ(error_of([&] { w.add_tensor("w", DType::I32, {4}, data); }),
            "GGUF writer: duplicate tensor name 'w'");
  EXPECT_EQ(error_of([&] { w.add_tensor("w", DType::F32, {4}, [](uint8_t*, size_t) {}); }),
            "GGUF writer: duplicate tensor name 'w'");
}

TEST(GgufWriter, RejectsBadMetadata) {
  Writer w;
  EXPECT_NE(error_of([&] { w.set_alignment(48); }).find("48 is not a power of two"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.set_alignment(0); }).find("not a power of two"), std::string::npos);
  EXPECT_NE(
      error_of([&] { w.set("general.alignment", Value::u64(32)); }).find("must have type UINT32"),
      std::string::npos);
  EXPECT_NE(error_of([&] { w.set("", Value::u8(1)); }).find("must not be empty"),
            std::string::npos);
  Value deep = Value::u8(1);
  for (int i = 0; i < 17; ++i) deep = Value::array(deep.type(), {deep});
  EXPECT_NE(error_of([&] { w.set("deep", deep); }).find("nests arrays more than 16 deep"),
            std::string::npos);
  EXPECT_EQ(w.alignment(), 32u);
  EXPECT_TRUE(w.metadata().empty());
}

TEST(GgufWriter, SetReplacesInPlaceAndRemove) {
  Writer w;
  w.set("a", Value::u8(1));
  w.set("b", Value::u8(2));
  w.set("a", Value::str("x"));
  ASSERT_EQ(w.metadata().size(), 2u);
  EXPECT_EQ(w.metadata()[0].first, "a");
  EXPECT_EQ(w.metadata()[0].second.as_string(), "x");
  EXPECT_TRUE(w.remove("a"));
  EXPECT_FALSE(w.remove("a"));
  EXPECT_EQ(w.find("b")->as_int(), 2);
  w.set("c", Value::u8(3));
  EXPECT_EQ(w.metadata()[1].first, "c");
  w.set_alignment(128);
  EXPECT_EQ(w.alignment(), 128u);
  EXPECT_TRUE(w.remove("general.alignment"));
  EXPECT_EQ(w.alignment(), 32u);
}

TEST(GgufWriter, FailedWriteLeavesNoFile) {
  testing::TempDir dir;
  std::string path = dir.file("out.gguf");
  testing::write_bytes(path, {'o', 'l', 'd'});
  Writer w;
  w.add_tensor("ok", DType::F32, {4}, std::vector<uint8_t>(16, 1));
  w.add_tensor("boom", DType::F32, {4}, [](uint8_t*, size_t) { throw Error("fill failed"); });
  EXPECT_EQ(error_of([&] { w.write(path); }), "fill failed");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ(testing::read_bytes(path), (std::vector<uint8_t>{'o', 'l', 'd'}));  // untouched

  // Unwritable destination: a clear error naming the path.
  std::string bad = dir.file("no/such/dir/x.gguf");
  EXPECT_NE(error_of([&] { Writer().write(bad); }).find(bad + ".tmp: cannot create"),
            std::string::npos);
}

TEST(GgufWriter, SuccessfulWriteReplacesTheFile) {
  testing::TempDir dir;
  std::string path = dir.file("out.gguf");
  testing::write_bytes(path, {'o', 'l', 'd'});
  Writer w;
  w.set("k", Value::i32(-3));
  w.write(path);
  EXPECT_EQ(File::open(path)->get_int("k"), -3);
}

}  // namespace
}  // namespace tandem::gguf
