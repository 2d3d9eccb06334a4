#include "tandem/convert/json_file.h"

#include <filesystem>
#include <fstream>

#include "tandem/base/error.h"

namespace tandem::convert {

JsonFile read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open (does the file exist?)", path);
  JsonFile f{path, {}};
  try {
    f.j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path, e.what());
  }
  if (!f.j.is_object()) fail("{}: expected a JSON object at the top level", path);
  return f;
}

JsonFile read_json_optional(const std::string& path) {
  if (!std::filesystem::exists(path)) return JsonFile{path, {}};
  return read_json(path);
}

int64_t JsonFile::get_int(const std::string& key) const {
  if (!has(key)) fail("{}: key '{}' is missing", path, key);
  const auto& v = j[key];
  if (!v.is_number_integer()) fail("{}: key '{}' is {}, expected an integer", path, key, v.dump());
  return v.get<int64_t>();
}

int64_t JsonFile::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double JsonFile::get_float(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j[key];
  if (!v.is_number()) fail("{}: key '{}' is {}, expected a number", path, key, v.dump());
  return v.get<double>();
}

bool JsonFile::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j[key];
  if (!v.is_boolean()) fail("{}: key '{}' is {}, expected true or false", path, key, v.dump());
  return v.get<bool>();
}

std::string JsonFile::get_string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const auto& v = j[key];
  if (!v.is_string()) fail("{}: key '{}' is {}, expected a string", path, key, v.dump());
  return v.get<std::string>();
}

}  // namespace tandem::convert
