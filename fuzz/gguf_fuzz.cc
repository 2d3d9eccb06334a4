// libFuzzer target for the GGUF reader: every input goes through
// File::from_memory(); a tandem::Error is the expected outcome for bad input,
// anything else (a crash, a sanitizer report, a broken invariant, an escaping
// exception of another type) is a bug. For a file that parses, every metadata
// value and every byte of every tensor is read, so ASan checks the ranges.
//
// With GGUF_FUZZ_WRITE_SEEDS=<dir> in the environment the binary instead writes
// a few small valid GGUF files (the seed corpus) to <dir> with the Writer and
// exits; scripts/fuzz uses that.
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tandem/base/error.h"
#include "tandem/gguf/format.h"
#include "tandem/gguf/gguf.h"

using namespace tandem;
using namespace tandem::gguf;

namespace {

#define FUZZ_INVARIANT(cond)                                                             \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

uint64_t touch(const Value& v, int depth) {
  FUZZ_INVARIANT(depth <= kMaxArrayDepth);
  uint64_t h = static_cast<uint32_t>(v.type());
  switch (v.type()) {
    case ValueType::STRING:
      for (char c : v.as_string()) h = h * 31 + static_cast<uint8_t>(c);
      break;
    case ValueType::ARRAY:
      for (const Value& e : v.elements()) {
        FUZZ_INVARIANT(e.type() == v.array_type());
        h += touch(e, depth + 1);
      }
      try {
        h += v.as_i32_array().size() + v.as_f32_array().size() + v.as_string_array().size();
      } catch (const Error&) {
      }
      break;
    case ValueType::BOOL:
      h += v.as_bool();
      break;
    default:
      h += std::bit_cast<uint64_t>(v.as_float());
      try {
        h += static_cast<uint64_t>(v.as_int());
      } catch (const Error&) {
        FUZZ_INVARIANT(v.type() == ValueType::UINT64 || v.is_float());
      }
  }
  h += v.to_string().size();
  return h;
}

void write_seeds(const std::string& dir) {
  std::vector<Writer> seeds(5);
  {
    Writer& w = seeds[0];  // every value type
    w.set("general.architecture", Value::str("llama"));
    w.set("u8", Value::u8(1));
    w.set("i8", Value::i8(-1));
    w.set("u16", Value::u16(2));
    w.set("i16", Value::i16(-2));
    w.set("u32", Value::u32(3));
    w.set("i32", Value::i32(-3));
    w.set("f32", Value::f32(0.5f));
    w.set("b", Value::boolean(true));
    w.set("u64", Value::u64(4));
    w.set("i64", Value::i64(-4));
    w.set("f64", Value::f64(0.25));
    w.set("tokens", Value::string_array({"<s>", "", "\xc3\xa9"}));
    w.set("scores", Value::f32_array({0.f, -1.f, -2.f}));
    w.set("types", Value::i32_array({3, 1, 1}));
    w.set("nested",
          Value::array(ValueType::ARRAY, {Value::i32_array({1}), Value::string_array({})}));
  }
  {
    Writer& w = seeds[1];  // tensors of several types
    w.set("general.architecture", Value::str("test"));
    std::vector<std::pair<DType, std::vector<int64_t>>> ts = {
        {DType::F32, {4, 2}},   {DType::F16, {3}},    {DType::BF16, {2, 1, 2}}, {DType::Q8_0, {32}},
        {DType::Q4_0, {32, 2}}, {DType::Q4_K, {256}}, {DType::I8, {1, 1, 1, 5}}};
    int i = 0;
    for (auto& [type, shape] : ts) {
      uint64_t nbytes = 0;
      check_tensor_shape(type, shape, &nbytes);
      std::vector<uint8_t> data(nbytes, static_cast<uint8_t>(i));
      w.add_tensor("t" + std::to_string(i++), type, shape, data);
    }
  }
  {
    Writer& w = seeds[2];  // custom alignment
    w.set_alignment(8);
    w.add_tensor("a", DType::F32, {3}, std::vector<uint8_t>(12, 1));
    w.add_tensor("b", DType::I16, {5}, std::vector<uint8_t>(10, 2));
  }
  {
    Writer& w = seeds[3];  // tensor only
    w.add_tensor("blk.0.attn_q.weight", DType::F32, {2, 2}, std::vector<uint8_t>(16, 7));
  }
  // seeds[4]: empty file (header only)
  for (size_t i = 0; i < seeds.size(); ++i)
    seeds[i].write(dir + "/seed-" + std::to_string(i) + ".gguf");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("GGUF_FUZZ_WRITE_SEEDS")) {
    try {
      write_seeds(dir);
    } catch (const Error& e) {
      std::fprintf(stderr, "writing seeds failed: %s\n", e.what());
      std::exit(1);
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<File> f;
  try {
    f = File::from_memory(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
  } catch (const Error& e) {
    FUZZ_INVARIANT(std::strncmp(e.what(), "fuzz.gguf: ", 11) == 0);
    return 0;
  }
  FUZZ_INVARIANT(f->file_size() == size);
  FUZZ_INVARIANT(f->version() == 2 || f->version() == 3);
  FUZZ_INVARIANT(is_power_of_two(f->alignment()));
  volatile uint64_t sink = 0;
  for (const auto& [key, value] : f->metadata()) {
    FUZZ_INVARIANT(f->find(key) == &value);
    sink = sink + touch(value, 0);
  }
  const uint8_t* begin = f->bytes().data();
  for (const TensorInfo& t : f->tensors()) {
    FUZZ_INVARIANT(f->find_tensor(t.name) == &t);
    uint64_t nbytes = 0;
    FUZZ_INVARIANT(check_tensor_shape(t.type, t.shape, &nbytes).empty() && nbytes == t.nbytes);
    FUZZ_INVARIANT(t.offset % f->alignment() == 0);
    FUZZ_INVARIANT(t.data >= begin && t.data + t.nbytes <= begin + size);
    FUZZ_INVARIANT(static_cast<uint64_t>(t.data - begin) == f->data_offset() + t.offset);
    uint64_t h = 0;
    for (uint64_t i = 0; i < t.nbytes; ++i) h += t.data[i];
    sink = sink + h + static_cast<uint64_t>(t.rows());
  }
  return 0;
}
