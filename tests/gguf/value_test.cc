#include <cmath>
#include <limits>

#include "test_util.h"

namespace tandem::gguf {
namespace {

TEST(GgufValue, TypeNames) {
  EXPECT_EQ(value_type_name(ValueType::UINT8), "UINT8");
  EXPECT_EQ(value_type_name(ValueType::STRING), "STRING");
  EXPECT_EQ(value_type_name(ValueType::ARRAY), "ARRAY");
  EXPECT_EQ(value_type_name(ValueType::FLOAT64), "FLOAT64");
  EXPECT_TRUE(is_valid_value_type(12));
  EXPECT_FALSE(is_valid_value_type(13));
}

TEST(GgufValue, IntegersSignExtendAndRangeCheck) {
  EXPECT_EQ(Value::i8(-5).as_int(), -5);
  EXPECT_EQ(Value::i16(-300).as_int(), -300);
  EXPECT_EQ(Value::i32(std::numeric_limits<int32_t>::min()).as_int(),
            std::numeric_limits<int32_t>::min());
  EXPECT_EQ(Value::i64(-1).as_int(), -1);
  EXPECT_EQ(Value::u8(255).as_int(), 255);
  EXPECT_EQ(Value::u16(65535).as_int(), 65535);
  EXPECT_EQ(Value::u32(4000000000u).as_int(), 4000000000);
  EXPECT_EQ(Value::u64(uint64_t{1} << 62).as_int(), int64_t{1} << 62);
  EXPECT_EQ(Value::u64(~uint64_t{0}).as_uint(), ~uint64_t{0});
  EXPECT_NE(error_of([] { Value::u64(~uint64_t{0}).as_int(); }).find("does not fit"),
            std::string::npos);
  EXPECT_NE(error_of([] { Value::i32(-1).as_uint(); }).find("negative"), std::string::npos);
  // On-disk bits are kept exactly.
  EXPECT_EQ(Value::i8(-1).bits(), 0xffu);
  EXPECT_EQ(Value::from_bits(ValueType::INT16, 0xfffe).as_int(), -2);
  EXPECT_EQ(Value::from_bits(ValueType::UINT8, 0x1ff).bits(), 0xffu);  // masked to its size
}

TEST(GgufValue, FloatsAndBools) {
  EXPECT_EQ(Value::f32(1.5f).as_float(), 1.5);
  EXPECT_EQ(Value::f64(-2.25).as_float(), -2.25);
  EXPECT_EQ(Value::i32(-7).as_float(), -7.0);
  EXPECT_TRUE(Value::boolean(true).as_bool());
  EXPECT_FALSE(Value::boolean(false).as_bool());
  EXPECT_NE(error_of([] { Value::str("x").as_float(); }).find("has type STRING, expected a number"),
            std::string::npos);
  EXPECT_NE(error_of([] { Value::u8(1).as_bool(); }).find("has type UINT8, expected BOOL"),
            std::string::npos);
}

TEST(GgufValue, EqualityIsExact) {
  EXPECT_EQ(Value::f32(NAN), Value::f32(NAN));  // same bits
  EXPECT_FALSE(Value::f32(0.0f) == Value::f32(-0.0f));
  EXPECT_FALSE(Value::i32(1) == Value::u32(1));
  EXPECT_FALSE(Value::array(ValueType::INT32, {}) == Value::array(ValueType::UINT32, {}));
  EXPECT_EQ(Value::string_array({"a", ""}), Value::string_array({"a", ""}));
  EXPECT_FALSE(Value::string_array({"a", ""}) == Value::string_array({"a", " "}));
}

TEST(GgufValue, AccessorErrorsNameBothTypesAndContext) {
  std::string e = error_of([] { Value::str("llama").as_int("m.gguf: metadata key 'k'"); });
  EXPECT_EQ(e, "m.gguf: metadata key 'k' has type STRING, expected an integer");
  e = error_of([] { Value::i32(3).as_string(); });
  EXPECT_EQ(e, "metadata value has type INT32, expected STRING");
  e = error_of([] { Value::i32_array({1}).as_string_array(); });
  EXPECT_EQ(e, "metadata value has type ARRAY of INT32, expected ARRAY of STRING");
  e = error_of([] { Value::u8(1).elements(); });
  EXPECT_NE(e.find("expected an array"), std::string::npos) << e;
  e = error_of([] { Value::u8(1).array_size(); });
  EXPECT_NE(e.find("expected an array"), std::string::npos) << e;
}

TEST(GgufValue, Arrays) {
  Value s = Value::string_array({"a", "", "\xc3\xa9t\xc3\xa9"});
  EXPECT_EQ(s.array_type(), ValueType::STRING);
  EXPECT_EQ(s.array_size(), 3u);
  EXPECT_EQ(s.as_string_array(), (std::vector<std::string>{"a", "", "\xc3\xa9t\xc3\xa9"}));

  EXPECT_EQ(Value::f32_array({1.f, -2.f}).as_f32_array(), (std::vector<float>{1.f, -2.f}));
  Value f64s = Value::array(ValueType::FLOAT64, {Value::f64(0.5), Value::f64(3.0)});
  EXPECT_EQ(f64s.as_f32_array(), (std::vector<float>{0.5f, 3.f}));

  EXPECT_EQ(Value::i32_array({-1, 7}).as_i32_array(), (std::vector<int32_t>{-1, 7}));
  Value u8s = Value::array(ValueType::UINT8, {Value::u8(200), Value::u8(3)});
  EXPECT_EQ(u8s.as_i32_array(), (std::vector<int32_t>{200, 3}));
  Value big = Value::u32_array({1, 3000000000u});
  std::string e = error_of([&] { big.as_i32_array(); });
  EXPECT_NE(e.find("element 1 = 3000000000 does not fit in int32"), std::string::npos) << e;
  Value big64 = Value::array(ValueType::UINT64, {Value::u64(~uint64_t{0})});
  EXPECT_NE(error_of([&] { big64.as_i32_array(); }).find("does not fit"), std::string::npos);
  EXPECT_NE(error_of([] { Value::string_array({"x"}).as_i32_array(); }).find("ARRAY of STRING"),
            std::string::npos);

  // Elements must match the declared type.
  e = error_of([] { Value::array(ValueType::INT32, {Value::i32(1), Value::u32(2)}); });
  EXPECT_NE(e.find("element 1 has type UINT32"), std::string::npos) << e;

  // Nested arrays: inner arrays may have different element types.
  Value nested =
      Value::array(ValueType::ARRAY, {Value::i32_array({1, 2}), Value::string_array({})});
  EXPECT_EQ(nested.elements()[0].as_i32_array(), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(nested.elements()[1].array_type(), ValueType::STRING);
  EXPECT_EQ(nested.to_string(), "ARRAY[INT32[1, 2], STRING[]]");
}

TEST(GgufValue, ToString) {
  EXPECT_EQ(Value::str("hi").to_string(), "\"hi\"");
  EXPECT_EQ(Value::boolean(true).to_string(), "true");
  EXPECT_EQ(Value::i16(-4).to_string(), "-4");
  EXPECT_EQ(Value::u64(~uint64_t{0}).to_string(), "18446744073709551615");
  EXPECT_EQ(Value::i32_array({1, 2, 3}).to_string(2), "INT32[1, 2, ... (3 total)]");
}

}  // namespace
}  // namespace tandem::gguf
