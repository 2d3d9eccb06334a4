// Small helpers shared by the benchmark programs under bench/. Pure functions.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace tandem::bench {

// /proc/loadavg at the end of the run: other processes on the same cores inflate
// absolute times (ratios inside one run are the robust figures).
inline std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string s;
  std::getline(f, s);
  return s;
}

// "a,b,c" -> {"a", "b", "c"}.
inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> v;
  size_t p = 0;
  while (p < s.size()) {
    const size_t q = s.find(',', p);
    v.push_back(s.substr(p, q - p));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  return v;
}

// "1,4,16" -> {1, 4, 16}.
inline std::vector<int> parse_int_list(const std::string& s) {
  std::vector<int> v;
  size_t p = 0;
  while (p < s.size()) {
    const size_t q = s.find(',', p);
    v.push_back(std::atoi(s.substr(p, q - p).c_str()));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  return v;
}

}  // namespace tandem::bench
