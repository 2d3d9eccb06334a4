#include <cmath>
#include <limits>

#include "test_util.h"

namespace tandem::gguf {
namespace {

using testing::pattern;
using testing::TempDir;

// Every value type, nested arrays, empty and UTF-8 strings.
std::vector<std::pair<std::string, Value>> all_values() {
  return {
      {"general.architecture", Value::str("llama")},
      {"t.u8", Value::u8(250)},
      {"t.i8", Value::i8(-100)},
      {"t.u16", Value::u16(65000)},
      {"t.i16", Value::i16(-32000)},
      {"t.u32", Value::u32(4000000000u)},
      {"t.i32", Value::i32(-2000000000)},
      {"t.f32", Value::f32(3.14159f)},
      {"t.f32_nan", Value::f32(std::numeric_limits<float>::quiet_NaN())},
      {"t.bool_true", Value::boolean(true)},
      {"t.bool_false", Value::boolean(false)},
      {"t.string_empty", Value::str("")},
      {"t.string_utf8", Value::str("h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x99\x82")},
      {"t.u64", Value::u64(~uint64_t{0})},
      {"t.i64", Value::i64(std::numeric_limits<int64_t>::min())},
      {"t.f64", Value::f64(-1e300)},
      {"t.strings", Value::string_array({"", "a", "\xc3\xa9", std::string("nul\0inside", 10), ""})},
      {"t.f32s", Value::f32_array({0.f, -1.f, 1e-30f})},
      {"t.i32s", Value::i32_array({-1, 0, 1})},
      {"t.empty_array", Value::array(ValueType::UINT16, {})},
      {"t.bools", Value::array(ValueType::BOOL, {Value::boolean(true), Value::boolean(false)})},
      {"t.nested", Value::array(ValueType::ARRAY,
                                {Value::i32_array({1, 2, 3}), Value::string_array({"x", ""}),
                                 Value::array(ValueType::ARRAY,
                                              {Value::array(ValueType::INT8, {Value::i8(-1)})}),
                                 Value::array(ValueType::FLOAT64, {})})},
  };
}

struct TensorSpec {
  std::string name;
  DType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

std::vector<TensorSpec> some_tensors() {
  std::vector<TensorSpec> t = {
      {"token_embd.weight", DType::F32, {8, 3}, {}},
      {"blk.0.attn_q.weight", DType::Q8_0, {64, 2}, {}},        // 2 blocks/row * 34 B * 2 rows
      {"blk.0.ffn_down.weight", DType::Q4_K, {256, 1, 2}, {}},  // 144 B * 2
      {"blk.0.attn_norm.weight", DType::F16, {5}, {}},          // 10 B: odd size, forces padding
      {"output.weight", DType::BF16, {3, 2, 2, 2}, {}},
      {"x.q4_0", DType::Q4_0, {32}, {}},
  };
  uint32_t seed = 1;
  for (auto& s : t) {
    uint64_t nbytes = 0;
    EXPECT_EQ(check_tensor_shape(s.type, s.shape, &nbytes), "");
    s.data = pattern(nbytes, seed++);
  }
  return t;
}

void check_round_trip(uint32_t alignment, bool set_alignment) {
  TempDir dir;
  Writer w;
  auto values = all_values();
  for (auto& [k, v] : values) w.set(k, v);
  if (set_alignment) {
    w.set_alignment(alignment);
    values.emplace_back("general.alignment", Value::u32(alignment));
  }
  auto tensors = some_tensors();
  for (auto& t : tensors) w.add_tensor(t.name, t.type, t.shape, t.data);
  std::string path = dir.file("rt.gguf");
  uint64_t last_done = 0, last_total = 0;
  w.write(path, [&](uint64_t done, uint64_t total) {
    EXPECT_GE(done, last_done);
    last_done = done;
    last_total = total;
  });
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto f = File::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), alignment);
  EXPECT_EQ(f->file_size(), std::filesystem::file_size(path));
  EXPECT_EQ(f->file_size(), w.file_size());
  EXPECT_EQ(last_done, f->file_size());
  EXPECT_EQ(last_total, f->file_size());
  EXPECT_EQ(f->data_offset() % alignment, 0u);

  ASSERT_EQ(f->metadata().size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(f->metadata()[i].first, values[i].first);
    EXPECT_TRUE(f->metadata()[i].second == values[i].second)
        << values[i].first << ": " << f->metadata()[i].second.to_string();
  }

  ASSERT_EQ(f->tensors().size(), tensors.size());
  const uint8_t* data_start = f->bytes().data() + f->data_offset();
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = f->tensors()[i];
    EXPECT_EQ(t.name, tensors[i].name);
    EXPECT_EQ(t.type, tensors[i].type);
    EXPECT_EQ(t.shape, tensors[i].shape);
    ASSERT_EQ(t.nbytes, tensors[i].data.size());
    EXPECT_EQ(0, std::memcmp(t.data, tensors[i].data.data(), t.nbytes)) << t.name;
    EXPECT_EQ(t.offset % alignment, 0u);
    EXPECT_EQ(static_cast<uint64_t>(t.data - data_start), t.offset);
    // The mapping is page aligned, so the data is aligned in memory too.
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % alignment, 0u) << t.name;
    EXPECT_EQ(f->find_tensor(t.name), &t);
  }
  EXPECT_EQ(f->find_tensor("nope"), nullptr);
  EXPECT_EQ(f->find_tensor("output.weight")->elements(), 24);
  EXPECT_EQ(f->find_tensor("output.weight")->rows(), 8);

  // Same bytes through from_memory.
  auto m = File::from_memory(testing::read_bytes(path), "copy");
  EXPECT_EQ(m->metadata().size(), values.size());
  EXPECT_EQ(m->path(), "copy");
  EXPECT_EQ(0, std::memcmp(m->find_tensor("x.q4_0")->data, tensors.back().data.data(), 18));
}

TEST(GgufRoundTrip, DefaultAlignment) {
  check_round_trip(32, false);
}
TEST(GgufRoundTrip, ExplicitAlignment32) {
  check_round_trip(32, true);
}
TEST(GgufRoundTrip, CustomAlignment64) {
  check_round_trip(64, true);
}
TEST(GgufRoundTrip, CustomAlignment1) {
  check_round_trip(1, true);
}

TEST(GgufRoundTrip, TypedGetters) {
  TempDir dir;
  Writer w;
  for (auto& [k, v] : all_values()) w.set(k, v);
  w.write(dir.file("g.gguf"));
  auto f = File::open(dir.file("g.gguf"));
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("t.u32"), 4000000000);
  EXPECT_EQ(f->get_int("t.i8"), -100);
  EXPECT_EQ(f->get_int("missing", 7), 7);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_float("t.f32")), 3.14159f);
  EXPECT_EQ(f->get_float("t.i16"), -32000.0);
  EXPECT_EQ(f->get_float("missing", 0.5), 0.5);
  EXPECT_EQ(f->get_string("missing", "dflt"), "dflt");
  EXPECT_TRUE(f->get_bool("t.bool_true", false));
  EXPECT_TRUE(f->get_bool("missing", true));
  EXPECT_EQ(f->find("t.strings")->as_string_array().size(), 5u);

  std::string path = dir.file("g.gguf");
  auto msg = [](auto&& fn) -> std::string {
    try {
      fn();
    } catch (const Error& e) {
      return e.what();
    }
    return "<no error>";
  };
  EXPECT_EQ(msg([&] { f->get_int("llama.block_count"); }),
            path + ": metadata key 'llama.block_count' is missing");
  EXPECT_EQ(msg([&] { f->get_int("general.architecture"); }),
            path + ": metadata key 'general.architecture' has type STRING, expected an integer");
  // A wrong type is an error even when a fallback is given.
  EXPECT_EQ(msg([&] { f->get_int("general.architecture", 3); }),
            path + ": metadata key 'general.architecture' has type STRING, expected an integer");
  EXPECT_EQ(msg([&] { f->get_string("t.u8"); }),
            path + ": metadata key 't.u8' has type UINT8, expected STRING");
  EXPECT_EQ(msg([&] { f->get_bool("t.u8", false); }),
            path + ": metadata key 't.u8' has type UINT8, expected BOOL");
  EXPECT_EQ(msg([&] { f->get_float("t.strings"); }),
            path + ": metadata key 't.strings' has type ARRAY of STRING, expected a number");
}

TEST(GgufRoundTrip, LazyFillTensors) {
  TempDir dir;
  Writer w;
  w.set("general.architecture", Value::str("test"));
  auto a = pattern(4 * 100 * 7, 11);
  std::vector<size_t> calls;
  w.add_tensor("lazy.a", DType::F32, {100, 7}, [&](uint8_t* dst, size_t n) {
    calls.push_back(n);
    std::memcpy(dst, a.data(), n);
  });
  auto b = pattern(34 * 4, 12);
  w.add_tensor("copied.b", DType::Q8_0, {128}, b);
  w.add_tensor("lazy.c", DType::I32, {3}, [&](uint8_t* dst, size_t n) {
    calls.push_back(n);
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(i + 1);
  });
  EXPECT_TRUE(calls.empty());  // nothing happens before write()
  w.write(dir.file("lazy.gguf"));
  EXPECT_EQ(calls, (std::vector<size_t>{2800, 12}));

  auto f = File::open(dir.file("lazy.gguf"));
  const TensorInfo* ta = f->find_tensor("lazy.a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->nbytes, a.size());
  EXPECT_EQ(0, std::memcmp(ta->data, a.data(), a.size()));
  EXPECT_EQ(0, std::memcmp(f->find_tensor("copied.b")->data, b.data(), b.size()));
  const TensorInfo* tc = f->find_tensor("lazy.c");
  for (int i = 0; i < 12; ++i) EXPECT_EQ(tc->data[i], i + 1);
}

TEST(GgufRoundTrip, CopyMetadataWithFilter) {
  TempDir dir;
  Writer w;
  for (auto& [k, v] : all_values()) w.set(k, v);
  w.write(dir.file("src.gguf"));
  auto src = File::open(dir.file("src.gguf"));

  Writer w2;
  w2.set("t.u8", Value::str("replaced later"));  // existing key keeps its position
  w2.copy_metadata(*src, [](std::string_view k) { return k.starts_with("t.") && k != "t.i8"; });
  w2.write(dir.file("dst.gguf"));
  auto dst = File::open(dir.file("dst.gguf"));
  EXPECT_EQ(dst->find("general.architecture"), nullptr);
  EXPECT_EQ(dst->find("t.i8"), nullptr);
  EXPECT_EQ(dst->metadata().front().first, "t.u8");
  EXPECT_EQ(dst->get_int("t.u8"), 250);
  EXPECT_TRUE(*dst->find("t.nested") == *src->find("t.nested"));
  EXPECT_EQ(dst->metadata().size(), src->metadata().size() - 2);

  Writer all;
  all.copy_metadata(*src, {});  // empty filter keeps everything
  EXPECT_EQ(all.metadata().size(), src->metadata().size());
}

// The writer's bytes for a tiny file, compared with a hand-built encoding.
TEST(GgufRoundTrip, WriterBytesMatchTheSpec) {
  TempDir dir;
  Writer w;
  w.set("a", Value::u16(0x1234));
  w.set("s", Value::string_array({"xy"}));
  uint8_t data[4] = {1, 2, 3, 4};
  w.add_tensor("t", DType::I8, {2, 2}, data);
  w.write(dir.file("tiny.gguf"));

  testing::Bytes e = testing::header(3, 1, 2);
  e.str("a").u32(2).u16(0x1234);
  e.str("s").u32(9).u32(8).u64(1).str("xy");
  e.bytes(testing::tensor_info("t", {2, 2}, 24, 0));
  e.pad_to(32).raw(data, 4).pad_to(32);
  EXPECT_EQ(testing::read_bytes(dir.file("tiny.gguf")), e.v);
}

}  // namespace
}  // namespace tandem::gguf
