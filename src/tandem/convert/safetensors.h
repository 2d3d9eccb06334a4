// safetensors — a validated, read-only view of Hugging Face `.safetensors`
// files, single or sharded.
//
// Format (public spec): 8-byte little-endian u64 N, then N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [r, c], "data_offsets": [begin, end]},
//    "__metadata__": {"k": "v", ...}}
// then the data section; offsets are relative to the start of the data section.
//
// Contract: SafetensorsFile::open() maps the file and validates the whole header
// before returning: the header length against the file size, the JSON syntax,
// every entry's dtype, shape and offsets (begin <= end <= data size, and
// end - begin == elements * element size, computed without overflow). Any
// problem is a tandem::Error that starts with the file path and names the
// tensor. SafetensorsSet::open_folder() opens `model.safetensors`, or every
// shard listed in `model.safetensors.index.json` (checking that each tensor the
// index names is in the shard it names).
// Ownership: a File owns its mapping; Tensor::data points into it and stays
// valid for the File's (or the Set's) lifetime.
// Thread safety: immutable after opening; const methods from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/base/mapped_file.h"

namespace tandem::convert {

struct StTensor {
  std::string name;
  std::string dtype;           // "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;  // row-major, outermost first (PyTorch order)
  const uint8_t* data = nullptr;
  uint64_t nbytes = 0;
  std::string file;  // path of the file holding it, for error messages

  int64_t elements() const;
  // Length of the innermost dimension (1 for a scalar).
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const { return cols() == 0 ? 0 : elements() / cols(); }
  // Converts `n` elements starting at element `first` to f32. Only F32, F16
  // and BF16 tensors can be read; others throw naming the tensor and file.
  void read_f32(int64_t first, int64_t n, float* out) const;
};

// Bytes per element of a safetensors dtype name; 0 when unknown.
int64_t safetensors_dtype_size(std::string_view dtype);

class SafetensorsFile {
 public:
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<StTensor>& tensors() const { return tensors_; }
  const StTensor* find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::unique_ptr<MappedFile> file_;
  std::vector<StTensor> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsSet {
 public:
  // `folder`/model.safetensors, else `folder`/model.safetensors.index.json.
  static SafetensorsSet open_folder(const std::string& folder);

  const StTensor* find(std::string_view name) const;
  // Every tensor of every shard, in shard order.
  std::vector<const StTensor*> all() const;
  // Names of the files opened (for messages).
  std::string describe() const;
  // Merged `__metadata__` of all shards.
  std::map<std::string, std::string> metadata() const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const StTensor*, std::less<>> index_;
};

}  // namespace tandem::convert
