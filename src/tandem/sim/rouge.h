// ROUGE-L: the longest-common-subsequence F1 between a candidate text and a
// reference, over whitespace-separated words (case-sensitive, no stemming).
//   P = LCS / |candidate|, R = LCS / |reference|, F1 = 2PR / (P + R)
// Either side empty gives 0. O(|candidate| * |reference|) time,
// O(|reference|) memory. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::sim {

std::vector<std::string> split_words(std::string_view text);
size_t lcs_length(const std::vector<std::string>& a, const std::vector<std::string>& b);

struct RougeL {
  double precision = 0, recall = 0, f1 = 0;
};
RougeL rouge_l(std::string_view candidate, std::string_view reference);

}  // namespace tandem::sim
