// One test per way a GGUF file can be broken; each checks that the error names
// the problem precisely.
#include "test_util.h"

namespace tandem::gguf {
namespace {

using testing::Bytes;
using testing::expect_error;
using testing::tensor_info;

// header + kv bytes + tensor infos, padded to 32, then `data_bytes` of data.
std::vector<uint8_t> make_file(uint64_t n_kv, const Bytes& kvs, uint64_t n_tensors,
                               const Bytes& infos, size_t data_bytes) {
  Bytes b = testing::header(3, n_tensors, n_kv);
  b.bytes(kvs).bytes(infos).pad_to(32).zeros(data_bytes);
  return b.v;
}

std::vector<uint8_t> one_tensor(const Bytes& info, size_t data_bytes) {
  return make_file(0, {}, 1, info, data_bytes);
}

std::vector<uint8_t> one_kv(const Bytes& kv) {
  return make_file(1, kv, 0, {}, 0);
}

TEST(GgufMalformed, ControlIsValid) {
  // The building blocks used below produce a valid file when nothing is wrong.
  Bytes kv;
  kv.str("a").u32(4).u32(1);
  auto f = File::from_memory(make_file(1, kv, 1, tensor_info("w", {2, 3}, 0, 0), 24));
  EXPECT_EQ(f->tensors()[0].nbytes, 24u);
}

// Every truncation point of a small valid file must give a tandem::Error (and
// never crash); a file cut only in the padding after the last tensor stays valid.
TEST(GgufMalformed, EveryTruncationThrows) {
  Writer w;
  w.set("general.architecture", Value::str("llama"));
  w.set("n", Value::u64(7));
  w.set("f", Value::f32(1.f));
  w.set("b", Value::boolean(true));
  w.set("strings", Value::string_array({"ab", "", "c"}));
  w.set("nested", Value::array(ValueType::ARRAY, {Value::i32_array({1, 2}), Value::f32_array({})}));
  w.add_tensor("a", DType::F32, {3}, testing::pattern(12, 1));
  w.add_tensor("b", DType::Q8_0, {32, 2}, testing::pattern(68, 2));
  testing::TempDir dir;
  w.write(dir.file("t.gguf"));
  auto full = testing::read_bytes(dir.file("t.gguf"));
  auto f = File::from_memory(full);
  uint64_t end = 0;
  for (const auto& t : f->tensors()) end = std::max(end, f->data_offset() + t.offset + t.nbytes);
  ASSERT_LT(end, full.size());  // there is trailing padding

  for (size_t n = 0; n <= full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
    if (n < end) {
      EXPECT_THROW(File::from_memory(cut), Error) << "cut at " << n;
    } else {
      EXPECT_NO_THROW(File::from_memory(cut)) << "cut at " << n;
    }
  }
}

TEST(GgufMalformed, TruncatedFileOnDiskNamesTheTensor) {
  Writer w;
  w.add_tensor("blk.0.attn_q.weight", DType::F32, {64, 64}, testing::pattern(64 * 64 * 4, 3));
  testing::TempDir dir;
  std::string path = dir.file("model.gguf");
  w.write(path);
  auto full = testing::read_bytes(path);
  full.resize(full.size() - 1000);
  testing::write_bytes(path, full);
  try {
    File::open(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path + ": tensor 'blk.0.attn_q.weight' data [", 0), 0u) << msg;
    EXPECT_NE(msg.find("ends past the end of the file (" + std::to_string(full.size()) +
                       " bytes); the file may be truncated"),
              std::string::npos)
        << msg;
  }
  // Truncated inside the header.
  full.resize(40);
  testing::write_bytes(path, full);
  EXPECT_THROW(File::open(path), Error);
}

TEST(GgufMalformed, TruncatedInsideHeaderSaysWhere) {
  Bytes kv;
  kv.str("general.name").u32(4);                 // value missing
  Bytes b = testing::header(3, 0, 1).bytes(kv);  // no padding after it
  expect_error(b.v,
               {"unexpected end of file at byte 48", "metadata key 'general.name'", "truncated"});
}

TEST(GgufMalformed, OpenErrors) {
  testing::TempDir dir;
  try {
    File::open(dir.file("missing.gguf"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.gguf: cannot open"), std::string::npos);
  }
  testing::write_bytes(dir.file("empty.gguf"), {});
  EXPECT_THROW(File::open(dir.file("empty.gguf")), Error);
  EXPECT_THROW(File::open(dir.path()), Error);  // a directory
}

TEST(GgufMalformed, WrongMagic) {
  Bytes b;
  b.raw("GGML", 4).u32(3).u64(0).u64(0);
  expect_error(b.v, {"not a GGUF file", "'GGML'"});
  expect_error({'G', 'G'}, {"too small (2 bytes)"});
  expect_error({}, {"too small (0 bytes)"});
}

TEST(GgufMalformed, OffsetPastTheEnd) {
  // 24 bytes of data present, tensor claims offset 1024.
  auto b = one_tensor(tensor_info("blk.0.attn_q.weight", {2, 3}, 0, 1024), 24);
  uint64_t data_start = b.size() - 24;
  expect_error(b, {"tensor 'blk.0.attn_q.weight' data [" + std::to_string(data_start + 1024) +
                   ", " + std::to_string(data_start + 1048) + ") ends past the end of the file (" +
                   std::to_string(b.size()) + " bytes)"});
  // An offset near 2^64 must not wrap around.
  expect_error(one_tensor(tensor_info("w", {8}, 0, ~uint64_t{0} - 31), 32), {"tensor 'w' data"});
}

TEST(GgufMalformed, AbsurdDimension) {
  uint64_t big = uint64_t{1} << 40;
  expect_error(one_tensor(tensor_info("w", {big, big}, 0, 0), 32),
               {"tensor 'w'", "absurd shape [1099511627776, 1099511627776]", "overflows"});
  // Element count fits, byte count does not.
  expect_error(one_tensor(tensor_info("w", {uint64_t{1} << 62}, 0, 0), 32),
               {"tensor 'w'", "byte size overflows"});
  expect_error(one_tensor(tensor_info("w", {~uint64_t{0}}, 0, 0), 32),
               {"tensor 'w' has absurd dimension ne[0] = 18446744073709551615"});
  expect_error(one_tensor(tensor_info("w", {4, 0}, 0, 0), 32),
               {"tensor 'w' has dimension ne[1] = 0"});
  // Plausible shape but far more data than the file holds.
  expect_error(one_tensor(tensor_info("w", {4096, 4096}, 0, 0), 32),
               {"tensor 'w' data", "ends past the end of the file"});
}

TEST(GgufMalformed, BadDimensionCount) {
  Bytes info;
  info.str("w").u32(5);
  for (int i = 0; i < 5; ++i) info.u64(1);
  info.u32(0).u64(0);
  expect_error(one_tensor(info, 32), {"tensor 'w' has n_dims = 5"});
  Bytes zero;
  zero.str("w").u32(0).u32(0).u64(0).u64(0).u64(0);
  expect_error(one_tensor(zero, 32), {"tensor 'w' has n_dims = 0"});
}

TEST(GgufMalformed, UnknownTensorType) {
  expect_error(one_tensor(tensor_info("w", {32}, 99, 0), 128),
               {"tensor 'w' has unknown ggml type id 99"});
  expect_error(one_tensor(tensor_info("w", {32}, 4, 0), 128),  // 4 was Q4_2, removed
               {"unknown ggml type id 4"});
}

TEST(GgufMalformed, RowNotAMultipleOfTheBlockSize) {
  expect_error(one_tensor(tensor_info("w", {33, 2}, 2, 0), 256),
               {"tensor 'w' (Q4_0) has ne[0] = 33, not a multiple of the Q4_0 block size 32"});
  expect_error(one_tensor(tensor_info("k", {128}, 12, 0), 256), {"Q4_K block size 256"});
}

TEST(GgufMalformed, MisalignedOffset) {
  Bytes infos = tensor_info("a", {2}, 0, 0);
  infos.bytes(tensor_info("b", {2}, 0, 8));
  expect_error(make_file(0, {}, 2, infos, 64),
               {"tensor 'b' has data offset 8, not a multiple of the alignment 32"});
  // With general.alignment = 8 the same file is valid.
  Bytes kv;
  kv.str("general.alignment").u32(4).u32(8);
  auto f = File::from_memory(make_file(1, kv, 2, infos, 64));
  EXPECT_EQ(f->alignment(), 8u);
  EXPECT_EQ(f->find_tensor("b")->offset, 8u);
}

TEST(GgufMalformed, DuplicateKey) {
  Bytes kv;
  kv.str("a").u32(4).u32(1).str("b").u32(4).u32(2).str("a").u32(8).str("x");
  expect_error(make_file(3, kv, 0, {}, 0), {"duplicate metadata key 'a' (entries #0 and #2)"});
}

TEST(GgufMalformed, DuplicateTensorName) {
  Bytes infos = tensor_info("w", {8}, 0, 0);
  infos.bytes(tensor_info("w", {8}, 0, 32));
  expect_error(make_file(0, {}, 2, infos, 64), {"duplicate tensor name 'w' (tensors #0 and #1)"});
}

TEST(GgufMalformed, EmptyNames) {
  Bytes kv;
  kv.str("").u32(0).u8(1);
  expect_error(one_kv(kv), {"metadata entry #0 has an empty key"});
  expect_error(one_tensor(tensor_info("", {8}, 0, 0), 32), {"tensor #0 has an empty name"});
}

TEST(GgufMalformed, HugeStringLength) {
  Bytes key;
  key.u64(uint64_t{1} << 62).zeros(16);
  expect_error(make_file(1, key, 0, {}, 0),
               {"the key of metadata entry #0", "has length 4611686018427387904"});
  Bytes value;
  value.str("general.name").u32(8).u64(uint64_t{1} << 62);
  expect_error(one_kv(value), {"a string value of metadata key 'general.name'",
                               "has length 4611686018427387904", "bytes remain"});
  Bytes in_array;
  in_array.str("tok").u32(9).u32(8).u64(2).str("ok").u64(~uint64_t{0});
  expect_error(one_kv(in_array), {"metadata key 'tok'", "has length 18446744073709551615"});
  std::string long_name(65, 'n');
  expect_error(one_tensor(tensor_info(long_name, {8}, 0, 0), 32),
               {"the name of tensor #0", "has length 65; the limit is 64 bytes"});
}

TEST(GgufMalformed, HugeArrayCount) {
  Bytes kv;
  kv.str("tokenizer.ggml.scores").u32(9).u32(6).u64(uint64_t{1} << 60);
  expect_error(one_kv(kv), {"metadata key 'tokenizer.ggml.scores' claims an array of "
                            "1152921504606846976 FLOAT32 elements"});
  Bytes nested;
  nested.str("n").u32(9).u32(9).u64(1).u32(8).u64(~uint64_t{0});
  expect_error(one_kv(nested), {"metadata key 'n' claims an array of 18446744073709551615 STRING"});
}

TEST(GgufMalformed, HugeCounts) {
  expect_error(make_file(uint64_t{1} << 60, {}, 0, {}, 0),
               {"the header claims 1152921504606846976 metadata entries"});
  expect_error(make_file(0, {}, ~uint64_t{0}, {}, 0),
               {"the header claims 18446744073709551615 tensors"});
}

TEST(GgufMalformed, BadAlignment) {
  Bytes kv;
  kv.str("general.alignment").u32(4).u32(48);
  expect_error(one_kv(kv), {"general.alignment = 48 is not a power of two"});
  Bytes zero;
  zero.str("general.alignment").u32(4).u32(0);
  expect_error(one_kv(zero), {"general.alignment = 0 is not a power of two"});
  Bytes wrong_type;
  wrong_type.str("general.alignment").u32(10).u64(32);
  expect_error(one_kv(wrong_type),
               {"metadata key 'general.alignment' has type UINT64, expected UINT32"});
}

TEST(GgufMalformed, UnknownValueType) {
  Bytes kv;
  kv.str("k").u32(13).u32(0);
  expect_error(one_kv(kv), {"metadata key 'k' has unknown value type 13"});
  Bytes arr;
  arr.str("k").u32(9).u32(77).u64(0);
  expect_error(one_kv(arr), {"metadata key 'k' is an array with unknown element type 77"});
}

TEST(GgufMalformed, ArrayNestingLimit) {
  auto nested = [](int depth) {
    Bytes kv;
    kv.str("deep").u32(9);
    for (int i = 1; i < depth; ++i) kv.u32(9).u64(1);  // array of one array
    kv.u32(0).u64(1).u8(42);                           // innermost: one u8
    return one_kv(kv);
  };
  auto ok = File::from_memory(nested(16));
  const Value* v = ok->find("deep");
  for (int i = 1; i < 16; ++i) v = &v->elements()[0];
  EXPECT_EQ(v->elements()[0].as_int(), 42);
  expect_error(nested(17), {"metadata key 'deep' nests arrays more than 16 deep"});
}

}  // namespace
}  // namespace tandem::gguf
