// MappedFile — a whole file mapped read-only into memory: GGUF models and the
// converters' inputs (safetensors shards, llama2.c checkpoints), which can be
// many GB and are never copied.
//
// Contract: open() maps the file (MAP_PRIVATE, PROT_READ) or throws
// tandem::Error naming the path ("x.bin: cannot open: No such file or
// directory"). Empty files are allowed (bytes() is empty).
// Ownership: the MappedFile owns the mapping; bytes() is valid for its lifetime.
// Thread safety: immutable after open(); const methods from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace tandem {

class MappedFile {
 public:
  static std::unique_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;
};

}  // namespace tandem
