// File — a validated, read-only view of a GGUF file (versions 2 and 3).
//
// Contract: File::open() maps the file (read-only, MAP_PRIVATE) and
// File::from_memory() takes ownership of a byte buffer; both parse and validate
// the whole header before returning — magic, version, every count, string
// length and array size against the bytes that remain, value types, duplicate
// keys and tensor names, `general.alignment`, tensor shapes and types, and that
// every tensor's data lies inside the file at an aligned offset. Any problem is
// a tandem::Error whose message starts with the file path. Hostile input never
// crashes the reader or makes it allocate more than a small multiple of the
// file size.
// Ownership: the File owns the mapping/buffer; TensorInfo::data points into it
// and stays valid for the File's lifetime. Metadata is parsed into Values.
// Thread safety: immutable after construction; const methods may be called
// from any number of threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tandem/base/mapped_file.h"
#include "tandem/gguf/value.h"
#include "tandem/tensor/dtype.h"

namespace tandem::gguf {

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // GGUF order: shape[0] = ne[0] = row length (fastest varying)
  DType type;
  uint64_t offset;  // relative to the start of the data section
  uint64_t nbytes;
  const uint8_t* data;  // points into the mapping (no copy)

  int64_t elements() const;
  int64_t rows() const;  // product of shape[1..]
  std::span<const uint8_t> bytes() const { return {data, static_cast<size_t>(nbytes)}; }
};

class File {
 public:
  static std::unique_ptr<File> open(const std::string& path);
  static std::unique_ptr<File> from_memory(std::vector<uint8_t> bytes,
                                           std::string name = "<memory>");
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return bytes_.size(); }
  // Absolute file offset of the data section (tensor offsets are relative to it).
  uint64_t data_offset() const { return data_offset_; }
  // The whole file.
  std::span<const uint8_t> bytes() const { return bytes_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  // Throws "<path>: metadata key '<key>' is missing".
  const Value& get(std::string_view key) const;

  // Typed getters. A missing key throws (or returns the fallback); a key of the
  // wrong type always throws, e.g.
  //   "model.gguf: metadata key 'llama.block_count' has type STRING, expected an integer".
  int64_t get_int(std::string_view key) const;
  int64_t get_int(std::string_view key, int64_t fallback) const;
  double get_float(std::string_view key) const;
  double get_float(std::string_view key, double fallback) const;
  std::string get_string(std::string_view key) const;
  std::string get_string(std::string_view key, std::string fallback) const;
  bool get_bool(std::string_view key) const;
  bool get_bool(std::string_view key, bool fallback) const;

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

 private:
  File() = default;
  void parse();
  std::string key_context(std::string_view key) const;

  std::string path_;
  std::vector<uint8_t> owned_;          // from_memory
  std::unique_ptr<MappedFile> mapped_;  // open
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

}  // namespace tandem::gguf
