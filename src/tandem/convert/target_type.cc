#include "tandem/convert/target_type.h"

#include <fmt/format.h>

#include "tandem/base/error.h"

namespace tandem::convert {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool fits(DType t, int64_t row) {
  return row % dtype_info(t).block_elems == 0;
}

}  // namespace

TargetType TargetType::parse(std::string_view name) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "Q4_K_M") return TargetType{DType::Q4_K, true};
  auto t = dtype_from_name(up);
  if (t) {
    switch (*t) {
      case DType::F32:
      case DType::F16:
      case DType::BF16:
      case DType::Q8_0:
      case DType::Q4_0:
      case DType::Q4_K:
      case DType::Q6_K:
        return TargetType{*t, false};
      default:
        break;
    }
  }
  fail(
      "unknown or unsupported target type '{}' (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, "
      "Q6_K, Q4_K_M)",
      name);
}

std::string TargetType::name() const {
  return q4_k_m ? std::string("Q4_K_M") : std::string(dtype_name(base));
}

uint32_t TargetType::llama_file_type() const {
  if (q4_k_m) return 15;  // MOSTLY_Q4_K_M
  switch (base) {
    case DType::F32:
      return 0;
    case DType::F16:
      return 1;
    case DType::Q4_0:
      return 2;
    case DType::Q8_0:
      return 7;
    case DType::Q4_K:
      return 14;  // MOSTLY_Q4_K_S: every matrix Q4_K
    case DType::Q6_K:
      return 18;
    case DType::BF16:
      return 32;
    default:
      return 0;
  }
}

DType choose_type(const TargetType& target, std::string_view name,
                  const std::vector<int64_t>& shape, bool tied_output, std::string* note) {
  if (note) note->clear();
  if (shape.size() != 2) return DType::F32;
  DType want = target.base;
  if (target.q4_k_m) {
    const bool high = name == "output.weight" || (tied_output && name == "token_embd.weight") ||
                      ends_with(name, ".attn_v.weight") || ends_with(name, ".ffn_down.weight");
    want = high ? DType::Q6_K : DType::Q4_K;
  }
  const int64_t row = shape[0];
  if (fits(want, row)) return want;
  DType got = DType::F16;
  if ((want == DType::Q4_K || want == DType::Q6_K) && fits(DType::Q8_0, row)) got = DType::Q8_0;
  if (note)
    *note = fmt::format("{}: row length {} is not a multiple of {}'s block of {}; stored as {}",
                        name, row, dtype_name(want), dtype_info(want).block_elems, dtype_name(got));
  return got;
}

}  // namespace tandem::convert
