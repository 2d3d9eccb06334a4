#include "tandem/sim/rouge.h"

#include <algorithm>

namespace tandem::sim {

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  auto space = [](char c) {
    return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
  };
  while (i < text.size()) {
    while (i < text.size() && space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !space(text[j])) ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<size_t> row(b.size() + 1, 0);
  for (size_t i = 0; i < a.size(); ++i) {
    size_t diag = 0;  // row[j] of the previous i
    for (size_t j = 0; j < b.size(); ++j) {
      const size_t up = row[j + 1];
      row[j + 1] = a[i] == b[j] ? diag + 1 : std::max(up, row[j]);
      diag = up;
    }
  }
  return row[b.size()];
}

RougeL rouge_l(std::string_view candidate, std::string_view reference) {
  const auto c = split_words(candidate), r = split_words(reference);
  RougeL out;
  if (c.empty() || r.empty()) return out;
  const double l = static_cast<double>(lcs_length(c, r));
  out.precision = l / static_cast<double>(c.size());
  out.recall = l / static_cast<double>(r.size());
  out.f1 = l > 0 ? 2 * out.precision * out.recall / (out.precision + out.recall) : 0;
  return out;
}

}  // namespace tandem::sim
