#include "tandem/tensor/dtype.h"

#include <algorithm>
#include <array>
#include <cctype>

#include "tandem/base/error.h"

namespace tandem {
namespace {

// Block geometry from the GGUF specification (ggml_type table).
constexpr std::array<DTypeInfo, 20> kTypes = {{
    {DType::F32, "F32", 1, 4, true},       {DType::F16, "F16", 1, 2, true},
    {DType::Q4_0, "Q4_0", 32, 18, true},   {DType::Q4_1, "Q4_1", 32, 20, false},
    {DType::Q5_0, "Q5_0", 32, 22, false},  {DType::Q5_1, "Q5_1", 32, 24, false},
    {DType::Q8_0, "Q8_0", 32, 34, true},   {DType::Q8_1, "Q8_1", 32, 36, false},
    {DType::Q2_K, "Q2_K", 256, 84, false}, {DType::Q3_K, "Q3_K", 256, 110, false},
    {DType::Q4_K, "Q4_K", 256, 144, true}, {DType::Q5_K, "Q5_K", 256, 176, false},
    {DType::Q6_K, "Q6_K", 256, 210, true}, {DType::Q8_K, "Q8_K", 256, 292, false},
    {DType::I8, "I8", 1, 1, false},        {DType::I16, "I16", 1, 2, false},
    {DType::I32, "I32", 1, 4, false},      {DType::I64, "I64", 1, 8, false},
    {DType::F64, "F64", 1, 8, false},      {DType::BF16, "BF16", 1, 2, true},
}};

// Position in kTypes of each GGUF type id (-1: none): the lookup is on the
// matmul path (row_bytes), so it is one load instead of a search.
constexpr auto kIndexOfId = [] {
  std::array<int8_t, 64> index{};
  index.fill(-1);
  for (size_t i = 0; i < kTypes.size(); ++i)
    index.at(static_cast<uint32_t>(kTypes[i].type)) = static_cast<int8_t>(i);
  return index;
}();

}  // namespace

const DTypeInfo* dtype_info(uint32_t id) {
  if (id >= kIndexOfId.size() || kIndexOfId[id] < 0) return nullptr;
  return &kTypes[kIndexOfId[id]];
}

const DTypeInfo& dtype_info(DType t) {
  const DTypeInfo* i = dtype_info(static_cast<uint32_t>(t));
  TANDEM_CHECK(i != nullptr, "dtype id {} has no info", static_cast<uint32_t>(t));
  return *i;
}

std::string_view dtype_name(DType t) {
  return dtype_info(t).name;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.name.size() != name.size()) continue;
    bool eq = std::equal(name.begin(), name.end(), t.name.begin(), [](char a, char b) {
      return std::toupper(static_cast<unsigned char>(a)) == b;
    });
    if (eq) return t.type;
  }
  return std::nullopt;
}

}  // namespace tandem
