#include "tandem/gguf/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tandem/base/error.h"
#include "tandem/gguf/format.h"

namespace tandem::gguf {
namespace {

void put_bits(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  uint8_t b[8];
  std::memcpy(b, &v, 8);  // little-endian host (checked in reader.cc)
  out.insert(out.end(), b, b + n);
}
void put_u32(std::vector<uint8_t>& out, uint32_t v) {
  put_bits(out, v, 4);
}
void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  put_bits(out, v, 8);
}
void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put_u64(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// The value payload (without its type tag, which the caller writes when needed).
void put_value(std::vector<uint8_t>& out, const Value& v) {
  switch (v.type()) {
    case ValueType::STRING:
      put_string(out, v.as_string());
      break;
    case ValueType::ARRAY:
      put_u32(out, static_cast<uint32_t>(v.array_type()));
      put_u64(out, v.array_size());
      for (const Value& e : v.elements()) put_value(out, e);
      break;
    default:
      put_bits(out, v.bits(), value_type_size(v.type()));
  }
}

int array_depth(const Value& v) {
  if (!v.is_array()) return 0;
  int d = 0;
  for (const Value& e : v.elements()) d = std::max(d, array_depth(e));
  return d + 1;
}

// Sequential writer to a file descriptor that reports progress.
class Sink {
 public:
  Sink(int fd, const std::string& path, uint64_t total, const Writer::ProgressFn& progress)
      : fd_(fd), path_(path), total_(total), progress_(progress) {}

  void write(const uint8_t* p, uint64_t n) {
    while (n > 0) {
      size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, kChunk));
      ssize_t w = ::write(fd_, p, chunk);
      if (w < 0) {
        if (errno == EINTR) continue;
        fail("{}: write failed after {} of {} bytes: {}", path_, pos_, total_,
             std::strerror(errno));
      }
      p += w;
      n -= static_cast<uint64_t>(w);
      pos_ += static_cast<uint64_t>(w);
      if (progress_ && pos_ - last_report_ >= kChunk) report();
    }
  }
  void zeros(uint64_t n) {
    static const uint8_t kZeros[4096] = {};
    while (n > 0) {
      uint64_t k = std::min<uint64_t>(n, sizeof(kZeros));
      write(kZeros, k);
      n -= k;
    }
  }
  void pad_to(uint64_t pos) {
    TANDEM_CHECK(pos >= pos_, "GGUF writer layout went backwards ({} < {})", pos, pos_);
    zeros(pos - pos_);
  }
  void report() {
    last_report_ = pos_;
    if (progress_) progress_(pos_, total_);
  }
  uint64_t pos() const { return pos_; }

 private:
  static constexpr uint64_t kChunk = 16u << 20;
  int fd_;
  const std::string& path_;
  uint64_t total_;
  const Writer::ProgressFn& progress_;
  uint64_t pos_ = 0;
  uint64_t last_report_ = 0;
};

}  // namespace

void Writer::set(std::string key, Value v) {
  if (key.empty()) fail("GGUF writer: metadata keys must not be empty");
  if (key.size() > kMaxKeyBytes)
    fail("GGUF writer: metadata key '{}...' is {} bytes long; the limit is {}", key.substr(0, 40),
         key.size(), kMaxKeyBytes);
  if (array_depth(v) > kMaxArrayDepth)
    fail("GGUF writer: metadata key '{}' nests arrays more than {} deep", key, kMaxArrayDepth);
  if (key == kAlignmentKey) {
    if (v.type() != ValueType::UINT32)
      fail("GGUF writer: metadata key '{}' must have type UINT32, got {}", key,
           value_type_name(v.type()));
    if (!is_power_of_two(v.bits()))
      fail("GGUF writer: {} = {} is not a power of two", key, v.bits());
    alignment_ = static_cast<uint32_t>(v.bits());
  }
  if (auto it = key_index_.find(key); it != key_index_.end()) {
    metadata_[it->second].second = std::move(v);
    return;
  }
  key_index_.emplace(key, metadata_.size());
  metadata_.emplace_back(std::move(key), std::move(v));
}

bool Writer::remove(std::string_view key) {
  auto it = key_index_.find(key);
  if (it == key_index_.end()) return false;
  if (key == kAlignmentKey) alignment_ = kDefaultAlignment;
  metadata_.erase(metadata_.begin() + static_cast<ptrdiff_t>(it->second));
  key_index_.clear();
  for (size_t i = 0; i < metadata_.size(); ++i) key_index_.emplace(metadata_[i].first, i);
  return true;
}

const Value* Writer::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

void Writer::copy_metadata(const File& src, std::function<bool(std::string_view key)> keep) {
  for (const auto& [key, value] : src.metadata())
    if (!keep || keep(key)) set(key, value);
}

void Writer::set_alignment(uint32_t a) {
  if (!is_power_of_two(a)) fail("GGUF writer: alignment {} is not a power of two", a);
  set(kAlignmentKey, Value::u32(a));
}

uint64_t Writer::check_new_tensor(const std::string& name, DType type,
                                  const std::vector<int64_t>& shape) const {
  if (name.empty()) fail("GGUF writer: tensor names must not be empty");
  if (name.size() > kMaxTensorNameBytes)
    fail("GGUF writer: tensor name '{}' is {} bytes long; the limit is {}", name, name.size(),
         kMaxTensorNameBytes);
  if (tensor_index_.count(name)) fail("GGUF writer: duplicate tensor name '{}'", name);
  if (dtype_info(static_cast<uint32_t>(type)) == nullptr)
    fail("GGUF writer: tensor '{}' has unknown type id {}", name, static_cast<uint32_t>(type));
  uint64_t nbytes = 0;
  std::string why = check_tensor_shape(type, shape, &nbytes);
  if (!why.empty()) fail("GGUF writer: tensor '{}' ({}) {}", name, dtype_name(type), why);
  return nbytes;
}

void Writer::add_tensor(std::string name, DType type, std::vector<int64_t> shape,
                        std::span<const uint8_t> data) {
  uint64_t nbytes = check_new_tensor(name, type, shape);
  if (data.size() != nbytes)
    fail("GGUF writer: tensor '{}' ({} {}) needs {} bytes of data, got {}", name, dtype_name(type),
         shape_string(shape), nbytes, data.size());
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back(Tensor{std::move(name), type, std::move(shape), nbytes,
                            std::vector<uint8_t>(data.begin(), data.end()), nullptr});
}

void Writer::add_tensor(std::string name, DType type, std::vector<int64_t> shape, Fill fill) {
  uint64_t nbytes = check_new_tensor(name, type, shape);
  if (!fill) fail("GGUF writer: tensor '{}' has an empty fill function", name);
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back(Tensor{std::move(name), type, std::move(shape), nbytes, {}, std::move(fill)});
}

std::vector<uint8_t> Writer::encode_header(std::vector<uint64_t>* offsets) const {
  std::vector<uint8_t> out;
  out.reserve(4096);
  out.insert(out.end(), kMagic, kMagic + 4);
  put_u32(out, kWriteVersion);
  put_u64(out, tensors_.size());
  put_u64(out, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(out, key);
    put_u32(out, static_cast<uint32_t>(value.type()));
    put_value(out, value);
  }
  offsets->clear();
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(out, t.name);
    put_u32(out, static_cast<uint32_t>(t.shape.size()));
    for (int64_t d : t.shape) put_u64(out, static_cast<uint64_t>(d));
    put_u32(out, static_cast<uint32_t>(t.type));
    put_u64(out, offset);
    offsets->push_back(offset);
    offset = align_up(offset + t.nbytes, alignment_);
  }
  return out;
}

uint64_t Writer::file_size() const {
  std::vector<uint64_t> offsets;
  uint64_t header = encode_header(&offsets).size();
  uint64_t size = align_up(header, alignment_);
  if (!tensors_.empty()) size += align_up(offsets.back() + tensors_.back().nbytes, alignment_);
  return size;
}

void Writer::write(const std::string& path, ProgressFn progress) const {
  std::vector<uint64_t> offsets;
  std::vector<uint8_t> header = encode_header(&offsets);
  const uint64_t data_start = align_up(header.size(), alignment_);
  uint64_t total = data_start;
  if (!tensors_.empty()) total += align_up(offsets.back() + tensors_.back().nbytes, alignment_);

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot create: {}", tmp, std::strerror(errno));
  struct Cleanup {
    int fd;
    const std::string& tmp;
    bool committed = false;
    ~Cleanup() {
      if (fd >= 0) ::close(fd);
      if (!committed) ::unlink(tmp.c_str());
    }
  } cleanup{fd, tmp};

  Sink sink(fd, tmp, total, progress);
  sink.write(header.data(), header.size());
  sink.pad_to(data_start);
  std::vector<uint8_t> buffer;  // reused by fill tensors
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    sink.pad_to(data_start + offsets[i]);
    if (t.fill) {
      buffer.assign(t.nbytes, 0);
      t.fill(buffer.data(), t.nbytes);
      sink.write(buffer.data(), t.nbytes);
    } else {
      sink.write(t.data.data(), t.nbytes);
    }
    sink.report();
  }
  sink.pad_to(total);
  sink.report();

  if (::fdatasync(fd) != 0) fail("{}: fdatasync failed: {}", tmp, std::strerror(errno));
  int rc = ::close(fd);
  cleanup.fd = -1;
  if (rc != 0) fail("{}: close failed: {}", tmp, std::strerror(errno));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    fail("{}: cannot rename {} to it: {}", path, tmp, std::strerror(errno));
  cleanup.committed = true;
}

}  // namespace tandem::gguf
