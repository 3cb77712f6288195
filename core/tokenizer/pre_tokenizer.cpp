#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/unicode.h"

namespace kvlite {
namespace {

// The code points of the text and the alternatives of the split regexes;
// each matcher returns how many code points it matches at i (0: no match).
class Matcher {
 public:
  explicit Matcher(const std::vector<unicode::Char>& chars) : chars_(chars) {}

  size_t size() const { return chars_.size(); }

  // '(s|t|re|ve|m|ll|d), ASCII letters, optionally in either case.
  size_t contraction(size_t i, bool any_case) const {
    if (cp(i) != '\'') return 0;
    const uint32_t a = fold(cp(i + 1), any_case), b = fold(cp(i + 2), any_case);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
  }

  // [^\r\n\p{L}\p{N}]?\p{L}+
  size_t word_with_lead(size_t i) const {
    if (letter(i)) return run(i, &Matcher::letter);
    if (i < size() && !newline(i) && !number(i) && letter(i + 1)) return 1 + run(i + 1, &Matcher::letter);
    return 0;
  }

  // \p{N}{1,max}
  size_t digits(size_t i, size_t max) const {
    size_t n = run(i, &Matcher::number);
    return n < max ? n : max;
  }

  // ' '? followed by a run of `pred`: GPT-2's " ?\p{L}+" and friends.
  size_t space_then(size_t i, bool (Matcher::*pred)(size_t) const) const {
    if ((this->*pred)(i)) return run(i, pred);
    if (cp(i) == ' ' && (this->*pred)(i + 1)) return 1 + run(i + 1, pred);
    return 0;
  }

  // ' '?[^\s\p{L}\p{N}]+[\r\n]*
  size_t symbols_then_newlines(size_t i) const {
    size_t n = space_then(i, &Matcher::other);
    return n == 0 ? 0 : n + run(i + n, &Matcher::newline);
  }

  // \s*[\r\n]+ : whitespace up to and including the last newline in the run.
  size_t whitespace_to_newline(size_t i) const {
    size_t end = i + run(i, &Matcher::space), last = 0;
    for (size_t j = i; j < end; ++j) {
      if (newline(j)) last = j + 1 - i;
    }
    return last;
  }

  // \s+(?!\S)|\s+ : a run of spaces leaves its last one to the word after it.
  size_t whitespace(size_t i) const {
    size_t n = run(i, &Matcher::space);
    if (n >= 2 && i + n < size()) return n - 1;
    return n;
  }

  uint32_t cp(size_t i) const { return i < size() ? chars_[i].cp : 0; }
  bool letter(size_t i) const { return i < size() && unicode::is_letter(cp(i)); }
  bool number(size_t i) const { return i < size() && unicode::is_number(cp(i)); }
  bool space(size_t i) const { return i < size() && unicode::is_whitespace(cp(i)); }
  bool newline(size_t i) const { return cp(i) == '\r' || cp(i) == '\n'; }
  bool other(size_t i) const { return i < size() && !space(i) && !letter(i) && !number(i); }

 private:
  static uint32_t fold(uint32_t c, bool any_case) {
    return any_case && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
  }
  size_t run(size_t i, bool (Matcher::*pred)(size_t) const) const {
    size_t j = i;
    while ((this->*pred)(j)) ++j;
    return j - i;
  }

  const std::vector<unicode::Char>& chars_;
};

size_t match_gpt2(const Matcher& m, size_t i) {
  if (size_t n = m.contraction(i, false)) return n;
  if (size_t n = m.space_then(i, &Matcher::letter)) return n;
  if (size_t n = m.space_then(i, &Matcher::number)) return n;
  if (size_t n = m.space_then(i, &Matcher::other)) return n;
  return m.whitespace(i);
}

size_t match_llama3(const Matcher& m, size_t i, size_t max_digits) {
  if (size_t n = m.contraction(i, true)) return n;
  if (size_t n = m.word_with_lead(i)) return n;
  if (size_t n = m.digits(i, max_digits)) return n;
  if (size_t n = m.symbols_then_newlines(i)) return n;
  if (size_t n = m.whitespace_to_newline(i)) return n;
  return m.whitespace(i);
}

}  // namespace

std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name) {
  if (name.empty() || name == "default" || name == "gpt2" || name == "gpt-2") return PreTokenizer::Gpt2;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::Llama3;
  if (name == "qwen2") return PreTokenizer::Qwen2;
  if (name == "smollm") return PreTokenizer::SmolLm;
  return std::nullopt;
}

namespace {

// Appends the words of `chars` (code points of `text`) as one regex splits them.
void split_chars(PreTokenizer kind, std::string_view text, const std::vector<unicode::Char>& chars,
                 std::vector<std::string_view>& words) {
  const Matcher m(chars);
  for (size_t i = 0; i < chars.size();) {
    size_t n = kind == PreTokenizer::Gpt2 ? match_gpt2(m, i) : match_llama3(m, i, kind == PreTokenizer::Llama3 ? 3 : 1);
    if (n == 0) n = 1;  // every alternative failed: keep the character on its own
    const size_t begin = chars[i].offset;
    const size_t end = chars[i + n - 1].offset + chars[i + n - 1].length;
    words.push_back(text.substr(begin, end - begin));
    i += n;
  }
}

}  // namespace

void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& words) {
  words.clear();
  std::vector<unicode::Char> chars;
  unicode::decode(text, chars);
  if (kind != PreTokenizer::SmolLm) return split_chars(kind, text, chars, words);
  // The pieces between digits are split on their own, so GPT-2's lookahead
  // (a space before "\S") ends at a digit as at the end of the text.
  std::vector<unicode::Char> piece;
  for (size_t i = 0; i < chars.size();) {
    size_t j = i;
    while (j < chars.size() && !unicode::is_number(chars[j].cp)) ++j;
    if (j == i) {
      words.push_back(text.substr(chars[i].offset, chars[i].length));
      ++i;
      continue;
    }
    piece.assign(chars.begin() + ptrdiff_t(i), chars.begin() + ptrdiff_t(j));
    split_chars(PreTokenizer::Gpt2, text, piece, words);
    i = j;
  }
}

}  // namespace kvlite
