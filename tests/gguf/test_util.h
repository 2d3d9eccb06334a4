// Helpers for the GGUF tests: a little-endian byte builder for hand-made files,
// a temporary directory, the shared-data directory, and an error matcher.
// Test-only; not thread-safe.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/base/error.h"
#include "tandem/gguf/format.h"
#include "tandem/gguf/gguf.h"

namespace tandem::gguf::testing {

// Appends little-endian fields to a byte vector.
struct Bytes {
  std::vector<uint8_t> v;

  Bytes& raw(const void* p, size_t n) {
    auto b = static_cast<const uint8_t*>(p);
    v.insert(v.end(), b, b + n);
    return *this;
  }
  Bytes& u8(uint8_t x) { return raw(&x, 1); }
  Bytes& u16(uint16_t x) { return raw(&x, 2); }
  Bytes& u32(uint32_t x) { return raw(&x, 4); }
  Bytes& u64(uint64_t x) { return raw(&x, 8); }
  Bytes& f32(float x) { return raw(&x, 4); }
  Bytes& str(std::string_view s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  Bytes& bytes(const Bytes& o) { return raw(o.v.data(), o.v.size()); }
  Bytes& pad_to(size_t alignment) {
    while (v.size() % alignment) v.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    v.insert(v.end(), n, 0);
    return *this;
  }
  size_t size() const { return v.size(); }
};

// header: magic, version, counts.
inline Bytes header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
  Bytes b;
  b.raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
  return b;
}

// A tensor description.
inline Bytes tensor_info(std::string_view name, std::initializer_list<uint64_t> dims, uint32_t type,
                         uint64_t offset) {
  Bytes b;
  b.str(name).u32(static_cast<uint32_t>(dims.size()));
  for (uint64_t d : dims) b.u64(d);
  b.u32(type).u64(offset);
  return b;
}

// Expects from_memory(bytes) to throw a tandem::Error whose message starts with
// the file name and contains every one of `parts`.
inline void expect_error(const std::vector<uint8_t>& bytes,
                         std::initializer_list<std::string_view> parts) {
  try {
    File::from_memory(bytes, "bad.gguf");
    ADD_FAILURE() << "expected a tandem::Error containing '" << *parts.begin() << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.rfind("bad.gguf: ", 0), 0u) << msg;
    for (std::string_view p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

// A fresh directory removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tandem_gguf_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
    if (path_.empty()) throw Error("mkdtemp failed");
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// $TANDEM_SHARED, else <source>/../shared.
inline std::filesystem::path shared_dir() {
  if (const char* s = std::getenv("TANDEM_SHARED"); s && *s) return s;
  return std::filesystem::path(TANDEM_SOURCE_DIR) / ".." / "shared";
}

// Deterministic test data.
inline std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

}  // namespace tandem::gguf::testing

namespace tandem::gguf {

// The message of the tandem::Error that fn throws, or "<no error>".
inline std::string error_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace tandem::gguf
