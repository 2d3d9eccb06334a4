// Writer — builds a GGUF version 3 file from metadata and tensors.
//
// Contract: metadata keeps insertion order (set() on an existing key replaces
// its value in place). Tensors are written in the order they were added, each
// at an offset aligned to the alignment (default 32, `general.alignment` when
// set). add_tensor() validates name, shape, type and data size at once and
// throws tandem::Error on bad input. Tensor data is either copied at add time or
// produced lazily by a fill callback during write(), one tensor at a time, so a
// multi-GB file never has to sit in memory whole. write() goes to
// `path + ".tmp"` and renames it over `path` only after everything is written
// and synced; on any error (I/O, a throwing fill) the temporary file is removed.
// Ownership: the Writer owns copies of metadata and copied tensor data; fill
// callbacks must stay callable until write() returns.
// Thread safety: none; use from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tandem/gguf/reader.h"
#include "tandem/gguf/value.h"
#include "tandem/tensor/dtype.h"

namespace tandem::gguf {

class Writer {
 public:
  using Fill = std::function<void(uint8_t* dst, size_t nbytes)>;
  using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

  // Replaces an existing key (keeping its position) or appends a new one.
  // `general.alignment` must be a UINT32 power of two and sets the alignment.
  void set(std::string key, Value v);
  // Removes a key if present; returns whether it was.
  bool remove(std::string_view key);
  const Value* find(std::string_view key) const;
  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  // Copies every key of `src` for which keep(key) is true (all keys when keep is empty).
  void copy_metadata(const File& src, std::function<bool(std::string_view key)> keep);
  // Sets `general.alignment`; a must be a power of two.
  void set_alignment(uint32_t a);
  uint32_t alignment() const { return alignment_; }

  // Copies `data`, which must hold exactly the tensor's byte size.
  void add_tensor(std::string name, DType type, std::vector<int64_t> shape,
                  std::span<const uint8_t> data);
  // fill(dst, nbytes) is called during write() and must write exactly nbytes.
  void add_tensor(std::string name, DType type, std::vector<int64_t> shape, Fill fill);
  size_t tensor_count() const { return tensors_.size(); }

  // Size of the file write() would produce now.
  uint64_t file_size() const;

  void write(const std::string& path, ProgressFn progress = {}) const;

 private:
  struct Tensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    uint64_t nbytes;
    std::vector<uint8_t> data;  // empty when fill is set
    Fill fill;
  };
  uint64_t check_new_tensor(const std::string& name, DType type,
                            const std::vector<int64_t>& shape) const;
  std::vector<uint8_t> encode_header(std::vector<uint64_t>* offsets) const;

  std::vector<std::pair<std::string, Value>> metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<Tensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
  uint32_t alignment_ = 32;
};

}  // namespace tandem::gguf
