// UTF-8 decoding and the Unicode classes the tokenizers need (\p{L}, \p{N},
// \s). Tables come from scripts/gen_unicode_tables.py.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvlite::unicode {

inline constexpr uint32_t kReplacement = 0xFFFD;

// Length of the UTF-8 sequence a lead byte announces (1 for continuation
// bytes and invalid leads), clipped to what is left. SentencePiece splits
// text into "characters" by this rule alone, valid or not.
size_t sequence_length(std::string_view text, size_t offset);

// One decoded character with where its bytes are, so splits can cut the
// original text and keep invalid bytes as they were.
struct Char {
  uint32_t cp;       // kReplacement for an invalid sequence
  uint32_t offset;   // byte offset in the text
  uint32_t length;   // bytes (1 for an invalid byte)
};

// Strict decoder: an invalid or truncated sequence yields one kReplacement
// character per offending byte. Appends to out (cleared first).
void decode(std::string_view text, std::vector<Char>& out);

void append_utf8(std::string& out, uint32_t cp);

bool is_letter(uint32_t cp);
bool is_number(uint32_t cp);
bool is_whitespace(uint32_t cp);

}  // namespace kvlite::unicode
