#include "tandem/gguf/value.h"

#include <fmt/format.h>

#include <bit>
#include <cstring>
#include <limits>

#include "tandem/base/error.h"

namespace tandem::gguf {
namespace {

constexpr std::string_view kTypeNames[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                           "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                           "UINT64", "INT64",   "FLOAT64"};

std::string_view ctx(std::string_view context) {
  return context.empty() ? std::string_view("metadata value") : context;
}

// Sign-extends the low `bytes` bytes of `bits`.
int64_t sign_extend(uint64_t bits, size_t bytes) {
  int shift = 64 - static_cast<int>(bytes) * 8;
  return static_cast<int64_t>(bits << shift) >> shift;
}

bool is_signed_type(ValueType t) {
  return t == ValueType::INT8 || t == ValueType::INT16 || t == ValueType::INT32 ||
         t == ValueType::INT64;
}

}  // namespace

std::string_view value_type_name(ValueType t) {
  auto i = static_cast<uint32_t>(t);
  return i < std::size(kTypeNames) ? kTypeNames[i] : std::string_view("INVALID");
}

bool is_valid_value_type(uint32_t id) {
  return id < std::size(kTypeNames);
}

size_t value_type_size(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::BOOL:
      return 1;
    case ValueType::UINT16:
    case ValueType::INT16:
      return 2;
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::FLOAT32:
      return 4;
    case ValueType::UINT64:
    case ValueType::INT64:
    case ValueType::FLOAT64:
      return 8;
    case ValueType::STRING:
    case ValueType::ARRAY:
      return 0;
  }
  return 0;
}

bool is_integer_type(ValueType t) {
  switch (t) {
    case ValueType::UINT8:
    case ValueType::INT8:
    case ValueType::UINT16:
    case ValueType::INT16:
    case ValueType::UINT32:
    case ValueType::INT32:
    case ValueType::UINT64:
    case ValueType::INT64:
      return true;
    default:
      return false;
  }
}

Value Value::u8(uint8_t v) {
  return Value(ValueType::UINT8, v);
}
Value Value::i8(int8_t v) {
  return Value(ValueType::INT8, static_cast<uint8_t>(v));
}
Value Value::u16(uint16_t v) {
  return Value(ValueType::UINT16, v);
}
Value Value::i16(int16_t v) {
  return Value(ValueType::INT16, static_cast<uint16_t>(v));
}
Value Value::u32(uint32_t v) {
  return Value(ValueType::UINT32, v);
}
Value Value::i32(int32_t v) {
  return Value(ValueType::INT32, static_cast<uint32_t>(v));
}
Value Value::f32(float v) {
  return Value(ValueType::FLOAT32, std::bit_cast<uint32_t>(v));
}
Value Value::boolean(bool v) {
  return Value(ValueType::BOOL, v ? 1 : 0);
}
Value Value::u64(uint64_t v) {
  return Value(ValueType::UINT64, v);
}
Value Value::i64(int64_t v) {
  return Value(ValueType::INT64, static_cast<uint64_t>(v));
}
Value Value::f64(double v) {
  return Value(ValueType::FLOAT64, std::bit_cast<uint64_t>(v));
}

Value Value::str(std::string v) {
  Value r(ValueType::STRING, 0);
  r.str_ = std::move(v);
  return r;
}

Value Value::from_bits(ValueType t, uint64_t bits) {
  size_t size = value_type_size(t);
  TANDEM_CHECK(size != 0, "Value::from_bits needs a scalar type, got {}", value_type_name(t));
  if (size < 8) bits &= (uint64_t{1} << (size * 8)) - 1;
  return Value(t, bits);
}

Value Value::array(ValueType elem, std::vector<Value> elements) {
  if (!is_valid_value_type(static_cast<uint32_t>(elem)))
    fail("GGUF array: invalid element type id {}", static_cast<uint32_t>(elem));
  for (size_t i = 0; i < elements.size(); ++i)
    if (elements[i].type_ != elem)
      fail("GGUF array of {}: element {} has type {}", value_type_name(elem), i,
           value_type_name(elements[i].type_));
  Value r(ValueType::ARRAY, 0);
  r.elem_type_ = elem;
  r.elems_ = std::move(elements);
  return r;
}

Value Value::string_array(std::vector<std::string> v) {
  std::vector<Value> e;
  e.reserve(v.size());
  for (auto& s : v) e.push_back(str(std::move(s)));
  return array(ValueType::STRING, std::move(e));
}

Value Value::f32_array(const std::vector<float>& v) {
  std::vector<Value> e;
  e.reserve(v.size());
  for (float x : v) e.push_back(f32(x));
  return array(ValueType::FLOAT32, std::move(e));
}

Value Value::i32_array(const std::vector<int32_t>& v) {
  std::vector<Value> e;
  e.reserve(v.size());
  for (int32_t x : v) e.push_back(i32(x));
  return array(ValueType::INT32, std::move(e));
}

Value Value::u32_array(const std::vector<uint32_t>& v) {
  std::vector<Value> e;
  e.reserve(v.size());
  for (uint32_t x : v) e.push_back(u32(x));
  return array(ValueType::UINT32, std::move(e));
}

Value Value::i64_array(const std::vector<int64_t>& v) {
  std::vector<Value> e;
  e.reserve(v.size());
  for (int64_t x : v) e.push_back(i64(x));
  return array(ValueType::INT64, std::move(e));
}

void Value::type_error(std::string_view context, std::string_view expected) const {
  if (type_ == ValueType::ARRAY)
    fail("{} has type ARRAY of {}, expected {}", ctx(context), value_type_name(elem_type_),
         expected);
  fail("{} has type {}, expected {}", ctx(context), value_type_name(type_), expected);
}

ValueType Value::array_type() const {
  if (type_ != ValueType::ARRAY) type_error({}, "an array");
  return elem_type_;
}

size_t Value::array_size() const {
  if (type_ != ValueType::ARRAY) type_error({}, "an array");
  return elems_.size();
}

int64_t Value::as_int(std::string_view context) const {
  if (!is_integer()) type_error(context, "an integer");
  if (is_signed_type(type_)) return sign_extend(bits_, value_type_size(type_));
  if (bits_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    fail("{} = {} (UINT64) does not fit in a signed 64-bit integer", ctx(context), bits_);
  return static_cast<int64_t>(bits_);
}

uint64_t Value::as_uint(std::string_view context) const {
  if (!is_integer()) type_error(context, "an integer");
  if (is_signed_type(type_)) {
    int64_t v = sign_extend(bits_, value_type_size(type_));
    if (v < 0) fail("{} = {} is negative, expected a non-negative integer", ctx(context), v);
    return static_cast<uint64_t>(v);
  }
  return bits_;
}

double Value::as_float(std::string_view context) const {
  if (type_ == ValueType::FLOAT32) return std::bit_cast<float>(static_cast<uint32_t>(bits_));
  if (type_ == ValueType::FLOAT64) return std::bit_cast<double>(bits_);
  if (is_integer()) {
    if (type_ == ValueType::UINT64) return static_cast<double>(bits_);
    return static_cast<double>(as_int(context));
  }
  type_error(context, "a number");
}

bool Value::as_bool(std::string_view context) const {
  if (type_ != ValueType::BOOL) type_error(context, "BOOL");
  return bits_ != 0;
}

const std::string& Value::as_string(std::string_view context) const {
  if (type_ != ValueType::STRING) type_error(context, "STRING");
  return str_;
}

const std::vector<Value>& Value::elements(std::string_view context) const {
  if (type_ != ValueType::ARRAY) type_error(context, "an array");
  return elems_;
}

std::vector<std::string> Value::as_string_array(std::string_view context) const {
  if (type_ != ValueType::ARRAY || elem_type_ != ValueType::STRING)
    type_error(context, "ARRAY of STRING");
  std::vector<std::string> r;
  r.reserve(elems_.size());
  for (const Value& e : elems_) r.push_back(e.str_);
  return r;
}

std::vector<float> Value::as_f32_array(std::string_view context) const {
  if (type_ != ValueType::ARRAY ||
      (elem_type_ != ValueType::FLOAT32 && elem_type_ != ValueType::FLOAT64))
    type_error(context, "ARRAY of FLOAT32 or FLOAT64");
  std::vector<float> r;
  r.reserve(elems_.size());
  for (const Value& e : elems_) r.push_back(static_cast<float>(e.as_float()));
  return r;
}

std::vector<int32_t> Value::as_i32_array(std::string_view context) const {
  if (type_ != ValueType::ARRAY || !is_integer_type(elem_type_))
    type_error(context, "ARRAY of an integer type");
  std::vector<int32_t> r;
  r.reserve(elems_.size());
  for (size_t i = 0; i < elems_.size(); ++i) {
    const Value& e = elems_[i];
    bool fits;
    int64_t v = 0;
    if (e.type_ == ValueType::UINT64) {
      fits = e.bits_ <= static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
      v = static_cast<int64_t>(e.bits_);
    } else {
      v = e.as_int();
      fits = v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
    }
    if (!fits)
      fail("{}: element {} = {} does not fit in int32", ctx(context), i,
           e.type_ == ValueType::UINT64 ? fmt::format("{}", e.bits_) : fmt::format("{}", v));
    r.push_back(static_cast<int32_t>(v));
  }
  return r;
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case ValueType::STRING:
      return str_ == o.str_;
    case ValueType::ARRAY:
      return elem_type_ == o.elem_type_ && elems_ == o.elems_;
    default:
      return bits_ == o.bits_;
  }
}

std::string Value::to_string(size_t max_elements) const {
  switch (type_) {
    case ValueType::STRING: {
      std::string s = str_.size() > 80 ? str_.substr(0, 77) + "..." : str_;
      return fmt::format("\"{}\"", s);
    }
    case ValueType::ARRAY: {
      std::string s = fmt::format("{}[", value_type_name(elem_type_));
      for (size_t i = 0; i < elems_.size() && i < max_elements; ++i) {
        if (i) s += ", ";
        s += elems_[i].to_string(max_elements);
      }
      if (elems_.size() > max_elements) s += fmt::format(", ... ({} total)", elems_.size());
      return s + "]";
    }
    case ValueType::BOOL:
      return bits_ ? "true" : "false";
    case ValueType::FLOAT32:
    case ValueType::FLOAT64:
      return fmt::format("{}", as_float());
    case ValueType::UINT64:
      return fmt::format("{}", bits_);
    default:
      return fmt::format("{}", as_int());
  }
}

}  // namespace tandem::gguf
