#include "tandem/tokenizer/unicode.h"

#include <array>

namespace tandem::unicode {

namespace {

// Expected total length from a lead byte; 0 for bytes that cannot lead.
size_t lead_length(uint8_t b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

// Allowed range of the second byte given the lead (RFC 3629 table 3-7).
void second_range(uint8_t lead, uint8_t& lo, uint8_t& hi) {
  lo = 0x80;
  hi = 0xBF;
  if (lead == 0xE0) lo = 0xA0;
  if (lead == 0xED) hi = 0x9F;
  if (lead == 0xF0) lo = 0x90;
  if (lead == 0xF4) hi = 0x8F;
}

struct ByteTables {
  std::array<std::string, 256> to_utf8;
  std::array<int16_t, 512> from_cp;  // every mapped code point is < 0x200
  ByteTables() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(to_utf8[b], cp);
      from_cp[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTables& tables() {
  static const ByteTables t;
  return t;
}

}  // namespace

size_t viable_prefix_length(std::string_view s, size_t i) {
  uint8_t lead = static_cast<uint8_t>(s[i]);
  size_t n = lead_length(lead);
  if (n <= 1) return n;
  size_t k = 1;
  while (k < n && i + k < s.size()) {
    uint8_t c = static_cast<uint8_t>(s[i + k]);
    uint8_t lo = 0x80, hi = 0xBF;
    if (k == 1) second_range(lead, lo, hi);
    if (c < lo || c > hi) break;
    ++k;
  }
  return k;
}

size_t valid_sequence_length(std::string_view s, size_t i) {
  size_t n = lead_length(static_cast<uint8_t>(s[i]));
  if (n == 0 || i + n > s.size()) return 0;
  return viable_prefix_length(s, i) == n ? n : 0;
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = valid_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

uint32_t decode_at(std::string_view s, size_t i, size_t len) {
  auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i + k])); };
  switch (len) {
    case 1:
      return b(0);
    case 2:
      return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3:
      return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default:
      return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

std::string sanitize_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (size_t n = valid_sequence_length(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append(kReplacement);
      i += std::max<size_t>(1, viable_prefix_length(s, i));
    }
  }
  return out;
}

std::string_view byte_to_utf8(uint8_t b) {
  return tables().to_utf8[b];
}

int byte_from_codepoint(uint32_t cp) {
  return cp < 512 ? tables().from_cp[cp] : -1;
}

}  // namespace tandem::unicode
