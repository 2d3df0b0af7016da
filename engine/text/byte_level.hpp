// GPT-2's byte-level alphabet: every byte maps to one printable code point, so BPE works on text
// with no unknown symbols. Printable Latin-1 bytes map to themselves; the other 68 bytes map to
// U+0100 onwards, in byte order (space -> U+0120 'Ġ', newline -> U+010A 'Ċ').
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace folio::engine::text {

// The code point byte b stands for.
char32_t byte_to_char(std::uint8_t b);
// The byte a code point stands for, if it is one of the 256.
std::optional<std::uint8_t> char_to_byte(char32_t c);

// UTF-8 helpers.
void append_utf8(std::string& out, char32_t c);
// Decodes the code point at s[i] (advancing i); invalid bytes come back as nullopt and advance by one.
std::optional<char32_t> next_utf8(std::string_view s, std::size_t& i);
// Bytes to text the way Rust's String::from_utf8_lossy does it: each maximal invalid subpart becomes U+FFFD.
std::string utf8_lossy(std::string_view bytes);

}  // namespace folio::engine::text
