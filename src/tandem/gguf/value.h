// Value — one GGUF metadata value: a scalar, a string, or an array of values
// (arrays of arrays are legal and each inner array has its own element type).
//
// Contract: plain value semantics (copyable, movable, comparable). Scalars keep
// their exact on-disk bits (little-endian, zero-extended to 64 bits), so a value
// read from a file and written back is byte-identical, NaN payloads included.
// Factories build well-formed values: Value::array() checks that every element
// has the declared element type. Accessors throw tandem::Error naming the
// expected and the actual type; the optional `context` (e.g. "model.gguf:
// metadata key 'llama.block_count'") is put at the front of that message.
// Thread safety: const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};

// "UINT32", "ARRAY", ...; "unknown(17)" style names are never produced because
// a ValueType outside the enum cannot be built by this module.
std::string_view value_type_name(ValueType t);
// True when `id` is one of the 13 value types of the format.
bool is_valid_value_type(uint32_t id);
// Bytes of a scalar of type t on disk; 0 for STRING and ARRAY.
size_t value_type_size(ValueType t);
bool is_integer_type(ValueType t);

class Value {
 public:
  static Value u8(uint8_t v);
  static Value i8(int8_t v);
  static Value u16(uint16_t v);
  static Value i16(int16_t v);
  static Value u32(uint32_t v);
  static Value i32(int32_t v);
  static Value f32(float v);
  static Value boolean(bool v);
  static Value str(std::string v);
  static Value u64(uint64_t v);
  static Value i64(int64_t v);
  static Value f64(double v);
  // A scalar from its on-disk bits (the low value_type_size(t) bytes are used).
  static Value from_bits(ValueType t, uint64_t bits);
  // Every element must have type `elem` (throws otherwise).
  static Value array(ValueType elem, std::vector<Value> elements);
  static Value string_array(std::vector<std::string> v);
  static Value f32_array(const std::vector<float>& v);
  static Value i32_array(const std::vector<int32_t>& v);
  static Value u32_array(const std::vector<uint32_t>& v);
  static Value i64_array(const std::vector<int64_t>& v);

  ValueType type() const { return type_; }
  bool is_array() const { return type_ == ValueType::ARRAY; }
  bool is_string() const { return type_ == ValueType::STRING; }
  bool is_integer() const { return is_integer_type(type_); }
  bool is_float() const { return type_ == ValueType::FLOAT32 || type_ == ValueType::FLOAT64; }
  // Array element type / size; throw if this is not an array.
  ValueType array_type() const;
  size_t array_size() const;

  // Any integer type (a UINT64 above INT64_MAX is an error).
  int64_t as_int(std::string_view context = {}) const;
  // Any integer type that is not negative.
  uint64_t as_uint(std::string_view context = {}) const;
  // FLOAT32, FLOAT64 and the integer types.
  double as_float(std::string_view context = {}) const;
  bool as_bool(std::string_view context = {}) const;
  const std::string& as_string(std::string_view context = {}) const;
  std::vector<std::string> as_string_array(std::string_view context = {}) const;
  // Arrays of FLOAT32 or FLOAT64.
  std::vector<float> as_f32_array(std::string_view context = {}) const;
  // Arrays of any integer type whose every element fits in int32.
  std::vector<int32_t> as_i32_array(std::string_view context = {}) const;
  const std::vector<Value>& elements(std::string_view context = {}) const;

  // The on-disk bits of a scalar (zero-extended); 0 for STRING and ARRAY.
  uint64_t bits() const { return bits_; }

  // Exact comparison: same type, same bits (floats compare bitwise), same
  // strings, same element types and elements.
  bool operator==(const Value& o) const;

  // Human-readable rendering for tools and error messages; arrays show at most
  // `max_elements` elements, then "... (N total)".
  std::string to_string(size_t max_elements = 8) const;

 private:
  Value(ValueType t, uint64_t bits) : type_(t), bits_(bits) {}
  [[noreturn]] void type_error(std::string_view context, std::string_view expected) const;

  ValueType type_;
  ValueType elem_type_ = ValueType::UINT8;  // ARRAY only
  uint64_t bits_ = 0;                       // scalars only
  std::string str_;                         // STRING only
  std::vector<Value> elems_;                // ARRAY only
};

}  // namespace tandem::gguf
