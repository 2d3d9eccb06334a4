// json_file — reading the JSON files of a Hugging Face model folder with errors
// that name the file and the key.
//
// Contract: read_json() throws tandem::Error "<path>: cannot open" or
// "<path>: not valid JSON: ..."; read_json_optional() returns a null json when
// the file does not exist. The typed getters throw
// "<path>: key 'hidden_size' is missing" / "... is not an integer".
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace tandem::convert {

struct JsonFile {
  std::string path;
  nlohmann::json j;  // null when absent (read_json_optional)

  bool present() const { return !j.is_null(); }
  bool has(const std::string& key) const {
    return j.is_object() && j.contains(key) && !j[key].is_null();
  }
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
};

JsonFile read_json(const std::string& path);
JsonFile read_json_optional(const std::string& path);

}  // namespace tandem::convert
