#include "tokenizer/unicode.h"

#include <algorithm>
#include <iterator>

namespace kvlite::unicode {
namespace {

struct CodepointRange {
  uint32_t first, last;
};

#include "tokenizer/unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodepointRange (&table)[N], uint32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp,
                             [](uint32_t c, const CodepointRange& r) { return c < r.first; });
  return it != std::begin(table) && cp <= std::prev(it)->last;
}

bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Decodes one valid sequence at offset, or returns 0 bytes when invalid
// (overlong, surrogate, beyond U+10FFFF, truncated or bad continuation).
uint32_t decode_one(std::string_view text, size_t offset, uint32_t& cp) {
  const auto b0 = uint8_t(text[offset]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  uint32_t len = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
  if (len == 0 || b0 > 0xF4 || offset + len > text.size()) return 0;
  uint32_t value = b0 & (0x7F >> len);
  for (uint32_t i = 1; i < len; ++i) {
    const auto b = uint8_t(text[offset + i]);
    if (!is_continuation(b)) return 0;
    value = (value << 6) | (b & 0x3F);
  }
  static constexpr uint32_t kMinForLength[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (value < kMinForLength[len] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 0;
  cp = value;
  return len;
}

}  // namespace

size_t sequence_length(std::string_view text, size_t offset) {
  static constexpr uint8_t kByHighNibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  size_t len = kByHighNibble[uint8_t(text[offset]) >> 4];
  return std::min(len, text.size() - offset);
}

void decode(std::string_view text, std::vector<Char>& out) {
  out.clear();
  size_t offset = 0;
  while (offset < text.size()) {
    uint32_t cp = 0;
    uint32_t len = decode_one(text, offset, cp);
    if (len == 0) {
      cp = kReplacement;
      len = 1;
    }
    out.push_back(Char{cp, uint32_t(offset), len});
    offset += len;
  }
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

bool is_letter(uint32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return in_ranges(kLetterRanges, cp);
}

bool is_number(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return in_ranges(kNumberRanges, cp);
}

bool is_whitespace(uint32_t cp) { return in_ranges(kWhitespaceRanges, cp); }

}  // namespace kvlite::unicode
