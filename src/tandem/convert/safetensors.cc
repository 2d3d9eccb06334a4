#include "tandem/convert/safetensors.h"

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "tandem/base/error.h"
#include "tandem/tensor/quantize.h"

namespace tandem::convert {
namespace {

using nlohmann::json;
constexpr uint64_t kMaxHeader = 100ull << 20;  // 100 MB of JSON is far beyond any real model

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

int64_t safetensors_dtype_size(std::string_view d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

int64_t StTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void StTensor::read_f32(int64_t first, int64_t n, float* out) const {
  TANDEM_CHECK(first >= 0 && n >= 0 && first + n <= elements(), "read_f32 range {}+{} of {}", first,
               n, elements());
  if (dtype == "F32") {
    dequantize_row(DType::F32, data + first * 4, out, n);
  } else if (dtype == "F16") {
    dequantize_row(DType::F16, data + first * 2, out, n);
  } else if (dtype == "BF16") {
    dequantize_row(DType::BF16, data + first * 2, out, n);
  } else {
    fail("{}: tensor '{}' has dtype {}, which cannot be converted (supported: F32, F16, BF16)",
         file, name, dtype);
  }
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->file_ = MappedFile::open(path);
  std::span<const uint8_t> b = f->file_->bytes();
  if (b.size() < 8)
    fail("{}: truncated safetensors file ({} bytes; the 8-byte header length is missing)", path,
         b.size());
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
  if (n > b.size() - 8)
    fail("{}: safetensors header length {} runs past the end of the file ({} bytes)", path, n,
         b.size());
  if (n > kMaxHeader) fail("{}: safetensors header length {} is implausibly large", path, n);
  const uint64_t data_size = b.size() - 8 - n;
  const uint8_t* data = b.data() + 8 + n;
  json h;
  try {
    h = json::parse(b.begin() + 8, b.begin() + 8 + n);
  } catch (const json::exception& e) {
    fail("{}: safetensors header is not valid JSON: {}", path, e.what());
  }
  if (!h.is_object()) fail("{}: safetensors header is not a JSON object", path);
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) fail("{}: __metadata__ is not an object", path);
      for (auto m = e.begin(); m != e.end(); ++m)
        if (m.value().is_string()) f->metadata_[m.key()] = m.value().get<std::string>();
      continue;
    }
    auto bad = [&](const std::string& why) {
      fail("{}: tensor '{}' in the safetensors header: {}", path, name, why);
    };
    if (!e.is_object()) bad("entry is not an object");
    if (!e.contains("dtype") || !e["dtype"].is_string()) bad("'dtype' is missing or not a string");
    if (!e.contains("shape") || !e["shape"].is_array()) bad("'shape' is missing or not an array");
    if (!e.contains("data_offsets") || !e["data_offsets"].is_array() ||
        e["data_offsets"].size() != 2)
      bad("'data_offsets' must be an array [begin, end]");
    StTensor t;
    t.name = name;
    t.file = path;
    t.dtype = e["dtype"].get<std::string>();
    const int64_t esize = safetensors_dtype_size(t.dtype);
    if (esize == 0) bad("unknown dtype '" + t.dtype + "'");
    uint64_t elems = 1;
    for (const json& d : e["shape"]) {
      if (!d.is_number_unsigned()) bad("shape " + d.dump() + " has a non-integer or negative size");
      uint64_t v = d.get<uint64_t>();
      if (v > (1ull << 40) || (v != 0 && elems > (1ull << 42) / v))
        bad("shape " + e["shape"].dump() + " is implausibly large");
      elems *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    const json& off = e["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad("data_offsets " + off.dump() + " are not non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size)
      bad(fmt::format("data_offsets [{}, {}] lie outside the data section ({} bytes){}", begin, end,
                      data_size,
                      end > data_size ? " — the file is truncated or the header is wrong" : ""));
    const uint64_t expect = elems * static_cast<uint64_t>(esize);
    if (end - begin != expect)
      bad(fmt::format("data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", begin, end,
                      end - begin, t.dtype, shape_str(t.shape), expect));
    t.data = data + begin;
    t.nbytes = expect;
    f->index_[name] = f->tensors_.size();
    f->tensors_.push_back(std::move(t));
  }
  return f;
}

const StTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

SafetensorsSet SafetensorsSet::open_folder(const std::string& folder) {
  namespace fs = std::filesystem;
  SafetensorsSet s;
  const fs::path single = fs::path(folder) / "model.safetensors";
  const fs::path index = fs::path(folder) / "model.safetensors.index.json";
  if (fs::exists(single)) {
    s.files_.push_back(SafetensorsFile::open(single.string()));
  } else if (fs::exists(index)) {
    std::ifstream in(index);
    if (!in) fail("{}: cannot open", index.string());
    json j;
    try {
      j = json::parse(in);
    } catch (const json::exception& e) {
      fail("{}: not valid JSON: {}", index.string(), e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail("{}: has no 'weight_map' object", index.string());
    std::map<std::string, std::vector<std::string>> by_file;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string())
        fail("{}: weight_map entry '{}' is not a file name", index.string(), it.key());
      const std::string file = it.value().get<std::string>();
      if (file.find('/') != std::string::npos || file == ".." || file.empty())
        fail("{}: weight_map names the file '{}', which is not a plain file name", index.string(),
             file);
      by_file[file].push_back(it.key());
    }
    if (by_file.empty()) fail("{}: weight_map is empty", index.string());
    for (const auto& [file, names] : by_file) {
      auto f = SafetensorsFile::open((fs::path(folder) / file).string());
      for (const std::string& n : names)
        if (!f->find(n))
          fail("{}: tensor '{}' is listed in {} but is not in the shard", f->path(), n,
               index.string());
      s.files_.push_back(std::move(f));
    }
  } else {
    fail("{}: neither model.safetensors nor model.safetensors.index.json exists", folder);
  }
  for (const auto& f : s.files_) {
    for (const StTensor& t : f->tensors()) {
      auto [it, inserted] = s.index_.emplace(t.name, &t);
      if (!inserted) fail("{}: tensor '{}' is also in {}", f->path(), t.name, it->second->file);
    }
  }
  return s;
}

const StTensor* SafetensorsSet::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

std::vector<const StTensor*> SafetensorsSet::all() const {
  std::vector<const StTensor*> out;
  for (const auto& f : files_)
    for (const StTensor& t : f->tensors()) out.push_back(&t);
  return out;
}

std::string SafetensorsSet::describe() const {
  std::string out;
  for (const auto& f : files_) out += (out.empty() ? "" : ", ") + f->path();
  return out;
}

std::map<std::string, std::string> SafetensorsSet::metadata() const {
  std::map<std::string, std::string> m;
  for (const auto& f : files_) m.insert(f->metadata().begin(), f->metadata().end());
  return m;
}

}  // namespace tandem::convert
