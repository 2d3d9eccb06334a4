#include "tandem/gguf/reader.h"

#include <bit>
#include <cstring>
#include <limits>

#include "tandem/base/error.h"
#include "tandem/gguf/format.h"

namespace tandem::gguf {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host");

namespace {

// A bounds-checked, overflow-safe cursor over the file bytes. Reads go through
// memcpy, so nothing assumes the buffer is aligned.
class Cursor {
 public:
  Cursor(std::span<const uint8_t> bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }
  // Appended to error messages, e.g. " of metadata key 'general.name'".
  void set_context(std::string c) { context_ = std::move(c); }

  void need(uint64_t n, std::string_view what) const {
    if (n > remaining())
      fail(
          "{}: unexpected end of file at byte {} while reading {}{} (needs {} bytes, {} left); "
          "the file may be truncated",
          path_, pos_, what, context_, n, remaining());
  }

  // Reads an n-byte little-endian scalar (n <= 8), zero-extended.
  uint64_t read_bits(size_t n, std::string_view what) {
    need(n, what);
    uint64_t v = 0;
    std::memcpy(&v, bytes_.data() + pos_, n);
    pos_ += n;
    return v;
  }
  uint32_t u32(std::string_view what) { return static_cast<uint32_t>(read_bits(4, what)); }
  uint64_t u64(std::string_view what) { return read_bits(8, what); }

  // A GGUF string: u64 length + bytes. `max_len` is a format limit (the file
  // size is always a limit too).
  std::string string(std::string_view what, uint64_t max_len) {
    uint64_t at = pos_;
    uint64_t len = u64(what);
    if (len > max_len)
      fail("{}: {}{} at byte {} has length {}; the limit is {} bytes", path_, what, context_, at,
           len, max_len);
    if (len > remaining())
      fail(
          "{}: {}{} at byte {} has length {}, but only {} bytes remain in the file ({} bytes); "
          "the file is corrupt or truncated",
          path_, what, context_, at, len, remaining(), bytes_.size());
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  std::span<const uint8_t> bytes_;
  const std::string& path_;
  uint64_t pos_ = 0;
  std::string context_;
};

// Bytes the smallest encoding of one element of type t needs.
uint64_t min_encoded_size(ValueType t) {
  if (t == ValueType::STRING) return 8;
  if (t == ValueType::ARRAY) return 4 + 8;
  return value_type_size(t);
}

Value read_value(Cursor& c, const std::string& path, std::string_view key, ValueType type,
                 int depth) {
  if (type == ValueType::STRING)
    return Value::str(c.string("a string value", std::numeric_limits<uint64_t>::max()));
  if (type != ValueType::ARRAY)
    return Value::from_bits(type, c.read_bits(value_type_size(type), "a value"));

  if (depth >= kMaxArrayDepth)
    fail("{}: metadata key '{}' nests arrays more than {} deep", path, key, kMaxArrayDepth);
  uint32_t elem_id = c.u32("an array element type");
  if (!is_valid_value_type(elem_id))
    fail("{}: metadata key '{}' is an array with unknown element type {} (valid types are 0..12)",
         path, key, elem_id);
  auto elem = static_cast<ValueType>(elem_id);
  uint64_t at = c.pos();
  uint64_t count = c.u64("an array length");
  if (count > c.remaining() / min_encoded_size(elem))
    fail(
        "{}: metadata key '{}' claims an array of {} {} elements at byte {}, but only {} bytes "
        "remain in the file; the file is corrupt or truncated",
        path, key, count, value_type_name(elem), at, c.remaining());
  std::vector<Value> elems;
  elems.reserve(count);
  for (uint64_t i = 0; i < count; ++i) elems.push_back(read_value(c, path, key, elem, depth + 1));
  return Value::array(elem, std::move(elems));
}

std::string printable_magic(std::span<const uint8_t> m) {
  std::string s;
  for (uint8_t b : m) {
    if (b >= 0x20 && b < 0x7f)
      s += static_cast<char>(b);
    else
      s += fmt::format("\\x{:02x}", b);
  }
  return s;
}

}  // namespace

int64_t TensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorInfo::rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

File::~File() = default;

std::unique_ptr<File> File::open(const std::string& path) {
  std::unique_ptr<File> f(new File);
  f->path_ = path;
  f->mapped_ = MappedFile::open(path);
  if (f->mapped_->size() == 0) fail("{}: the file is empty, not a GGUF file", path);
  f->bytes_ = f->mapped_->bytes();
  f->parse();
  return f;
}

std::unique_ptr<File> File::from_memory(std::vector<uint8_t> bytes, std::string name) {
  std::unique_ptr<File> f(new File);
  f->path_ = std::move(name);
  f->owned_ = std::move(bytes);
  f->bytes_ = {f->owned_.data(), f->owned_.size()};
  f->parse();
  return f;
}

void File::parse() {
  const std::string& path = path_;
  if (bytes_.size() < 4)
    fail("{}: the file is too small ({} bytes) to be a GGUF file", path, bytes_.size());
  if (std::memcmp(bytes_.data(), kMagic, 4) != 0)
    fail("{}: not a GGUF file: it starts with '{}', expected 'GGUF'", path,
         printable_magic(bytes_.first(4)));
  Cursor c(bytes_, path);
  c.read_bits(4, "the magic");
  version_ = c.u32("the version");
  if (version_ == 1)
    fail(
        "{}: GGUF version 1 is not supported (this reader handles versions 2 and 3); "
        "re-convert the model with a current converter",
        path);
  if (version_ == 0x02000000 || version_ == 0x03000000)
    fail("{}: this is a big-endian GGUF file; only little-endian files are supported", path);
  if (version_ != 2 && version_ != 3)
    fail("{}: unsupported GGUF version {} (this reader handles versions 2 and 3)", path, version_);

  uint64_t tensor_count = c.u64("the tensor count");
  uint64_t kv_count = c.u64("the metadata entry count");
  if (kv_count > c.remaining() / kMinKvBytes)
    fail(
        "{}: the header claims {} metadata entries, but only {} bytes follow (each entry needs "
        "at least {}); the file is corrupt or truncated",
        path, kv_count, c.remaining(), kMinKvBytes);
  if (tensor_count > c.remaining() / kMinTensorInfoBytes)
    fail(
        "{}: the header claims {} tensors, but only {} bytes follow (each tensor description "
        "needs at least {}); the file is corrupt or truncated",
        path, tensor_count, c.remaining(), kMinTensorInfoBytes);

  // Metadata.
  metadata_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    c.set_context(fmt::format(" of metadata entry #{}", i));
    std::string key = c.string("the key", kMaxKeyBytes);
    if (key.empty()) fail("{}: metadata entry #{} has an empty key", path, i);
    if (auto it = key_index_.find(key); it != key_index_.end())
      fail("{}: duplicate metadata key '{}' (entries #{} and #{})", path, key, it->second, i);
    c.set_context(fmt::format(" of metadata key '{}'", key));
    uint32_t type_id = c.u32("the value type");
    if (!is_valid_value_type(type_id))
      fail("{}: metadata key '{}' has unknown value type {} (valid types are 0..12)", path, key,
           type_id);
    Value v = read_value(c, path, key, static_cast<ValueType>(type_id), 0);
    key_index_.emplace(key, metadata_.size());
    metadata_.emplace_back(std::move(key), std::move(v));
  }
  c.set_context({});

  if (const Value* a = find(kAlignmentKey)) {
    if (a->type() != ValueType::UINT32)
      fail("{}: metadata key '{}' has type {}, expected UINT32", path, kAlignmentKey,
           value_type_name(a->type()));
    if (!is_power_of_two(a->bits()))
      fail("{}: {} = {} is not a power of two", path, kAlignmentKey, a->bits());
    alignment_ = a->bits();
  } else {
    alignment_ = kDefaultAlignment;
  }

  // Tensor descriptions.
  if (tensor_count > c.remaining() / kMinTensorInfoBytes)
    fail(
        "{}: the header claims {} tensors, but only {} bytes follow the metadata (each tensor "
        "description needs at least {}); the file is corrupt or truncated",
        path, tensor_count, c.remaining(), kMinTensorInfoBytes);
  tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    c.set_context(fmt::format(" of tensor #{}", i));
    TensorInfo t;
    t.name = c.string("the name", kMaxTensorNameBytes);
    if (t.name.empty()) fail("{}: tensor #{} has an empty name", path, i);
    if (auto it = tensor_index_.find(t.name); it != tensor_index_.end())
      fail("{}: duplicate tensor name '{}' (tensors #{} and #{})", path, t.name, it->second, i);
    c.set_context(fmt::format(" of tensor '{}'", t.name));
    uint32_t n_dims = c.u32("the number of dimensions");
    if (n_dims < 1 || n_dims > static_cast<uint32_t>(kMaxDims))
      fail("{}: tensor '{}' has n_dims = {}; GGUF tensors have 1 to {} dimensions", path, t.name,
           n_dims, kMaxDims);
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = c.u64("a dimension");
      if (ne == 0) fail("{}: tensor '{}' has dimension ne[{}] = 0", path, t.name, d);
      if (ne > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail("{}: tensor '{}' has absurd dimension ne[{}] = {}", path, t.name, d, ne);
      t.shape.push_back(static_cast<int64_t>(ne));
    }
    uint32_t type_id = c.u32("the type");
    const DTypeInfo* info = dtype_info(type_id);
    if (info == nullptr) fail("{}: tensor '{}' has unknown ggml type id {}", path, t.name, type_id);
    t.type = info->type;
    t.offset = c.u64("the data offset");
    std::string why = check_tensor_shape(t.type, t.shape, &t.nbytes);
    if (!why.empty()) fail("{}: tensor '{}' ({}) {}", path, t.name, info->name, why);
    if (t.offset % alignment_ != 0)
      fail("{}: tensor '{}' has data offset {}, not a multiple of the alignment {}", path, t.name,
           t.offset, alignment_);
    t.data = nullptr;
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }
  c.set_context({});

  // Data section. A file without tensors may end right after the header.
  data_offset_ = align_up(c.pos(), alignment_);
  const uint64_t size = bytes_.size();
  for (TensorInfo& t : tensors_) {
    uint64_t begin = 0, end = 0;
    if (__builtin_add_overflow(data_offset_, t.offset, &begin) ||
        __builtin_add_overflow(begin, t.nbytes, &end))
      fail(
          "{}: tensor '{}' data (offset {} + {} bytes after the data section at byte {}) lies "
          "far past the end of the file ({} bytes); the file is corrupt",
          path, t.name, t.offset, t.nbytes, data_offset_, size);
    if (end > size)
      fail(
          "{}: tensor '{}' data [{}, {}) ends past the end of the file ({} bytes); the file may "
          "be truncated",
          path, t.name, begin, end, size);
    t.data = bytes_.data() + begin;
  }
}

const Value* File::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const Value& File::get(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) fail("{}: metadata key '{}' is missing", path_, key);
  return *v;
}

std::string File::key_context(std::string_view key) const {
  return fmt::format("{}: metadata key '{}'", path_, key);
}

int64_t File::get_int(std::string_view key) const {
  return get(key).as_int(key_context(key));
}

int64_t File::get_int(std::string_view key, int64_t fallback) const {
  const Value* v = find(key);
  return v ? v->as_int(key_context(key)) : fallback;
}

double File::get_float(std::string_view key) const {
  return get(key).as_float(key_context(key));
}

double File::get_float(std::string_view key, double fallback) const {
  const Value* v = find(key);
  return v ? v->as_float(key_context(key)) : fallback;
}

std::string File::get_string(std::string_view key) const {
  return get(key).as_string(key_context(key));
}

std::string File::get_string(std::string_view key, std::string fallback) const {
  const Value* v = find(key);
  return v ? v->as_string(key_context(key)) : std::move(fallback);
}

bool File::get_bool(std::string_view key) const {
  return get(key).as_bool(key_context(key));
}

bool File::get_bool(std::string_view key, bool fallback) const {
  const Value* v = find(key);
  return v ? v->as_bool(key_context(key)) : fallback;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace tandem::gguf
