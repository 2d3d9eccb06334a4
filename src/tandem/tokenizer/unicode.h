// UTF-8 and byte-level helpers shared by the tokenizers.
//
// Contract: pure functions over byte strings; nothing here allocates global
// state except the GPT-2 byte<->unicode tables, which are built once on first
// use (thread-safe static initialisation) and never change afterwards.
// "Valid" UTF-8 means RFC 3629: shortest form, no surrogates, at most U+10FFFF.
// Thread safety: every function may be called from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tandem::unicode {

// Length of the valid UTF-8 sequence that starts at s[i], or 0 when the bytes
// there do not form a complete valid sequence (truncated or invalid).
size_t valid_sequence_length(std::string_view s, size_t i);

// Length of the longest prefix of s[i..] that could still be completed into a
// valid sequence (1..3 for a lead byte and well-formed continuation bytes), or
// 0 when s[i] cannot start a sequence at all. A complete sequence gives its length.
size_t viable_prefix_length(std::string_view s, size_t i);

bool is_valid_utf8(std::string_view s);

// Appends the UTF-8 encoding of code point cp (cp must be <= 0x10FFFF).
void append_utf8(std::string& out, uint32_t cp);

// Decodes the valid sequence at s[i] (caller has checked valid_sequence_length).
uint32_t decode_at(std::string_view s, size_t i, size_t len);

// Replaces every invalid sequence (maximal invalid subpart) with U+FFFD.
std::string sanitize_utf8(std::string_view s);

// U+FFFD REPLACEMENT CHARACTER, U+2581 LOWER ONE EIGHTH BLOCK ("▁").
inline constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
inline constexpr std::string_view kSpmSpace = "\xE2\x96\x81";

// GPT-2 byte-level mapping: each byte value has one printable code point
// (bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF map to themselves; the other 68 map to
// U+0100.. in byte order). byte_to_utf8(b) is that code point's UTF-8.
std::string_view byte_to_utf8(uint8_t b);
// The byte a mapped code point stands for, or -1 when cp is not in the mapping.
int byte_from_codepoint(uint32_t cp);

}  // namespace tandem::unicode
