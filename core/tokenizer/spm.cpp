// SentencePiece-style tokenizer as llama.cpp runs it: spaces become "▁", a
// "▁" goes in front of text that starts the input or follows a special token,
// characters merge pairwise by the score of the merged token, and characters
// with no token fall back to <0xXX> byte tokens.
#include <cstdio>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/impl.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/unicode.h"

namespace kvlite {
namespace {

constexpr std::string_view kSpaceMark = "\xE2\x96\x81";      // U+2581 "▁"
constexpr std::string_view kUnknownMark = "\xE2\x96\x85";    // U+2585, how llama.cpp shows <unk>

std::string escape_spaces(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (char c : text) {
    if (c == ' ') out += kSpaceMark;
    else out += c;
  }
  return out;
}

std::string unescape_spaces(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (text.substr(i, kSpaceMark.size()) == kSpaceMark) {
      out += ' ';
      i += kSpaceMark.size();
    } else {
      out += text[i++];
    }
  }
  return out;
}

// "<0x41>" -> 0x41, or -1 when the text is not a byte token's.
int parse_byte_token(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

// A symbol is a byte range of the escaped text, linked to its live neighbours.
struct Symbol {
  uint32_t offset, length;
  int32_t prev, next;
};

// A candidate merge of symbols left and left's successor.
struct Bigram {
  float score;
  int32_t left;
  uint32_t length;  // combined bytes when queued; stale once either side changed
};

struct LowerPriority {
  // Highest score first; on equal scores the leftmost pair.
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(Vocab v) : Tokenizer(std::move(v)), specials_(vocab_) {
    const auto n = vocab_.tokens.size();
    ids_.reserve(n);
    // Later duplicates win, as in llama.cpp's text-to-id map.
    for (size_t id = 0; id < n; ++id) ids_[vocab_.tokens[id]] = int32_t(id);
    for (int b = 0; b < 256; ++b) byte_ids_[b] = find_byte_token(b);
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_special && vocab_.add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
    std::vector<Fragment> fragments;
    specials_.split(text, parse_special, fragments);
    bool after_special = true;  // the start of the input counts as after a special token
    for (const Fragment& fragment : fragments) {
      if (fragment.is_token()) {
        out.push_back(fragment.token);
        after_special = true;
        continue;
      }
      std::string escaped = escape_spaces(fragment.text);
      if (vocab_.add_space_prefix && after_special) escaped.insert(0, kSpaceMark);
      encode_escaped(escaped, out);
      after_special = false;
    }
    if (add_special && vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
    return out;
  }

  std::string piece(int32_t id, bool render_special) const override {
    if (id < 0 || id >= n_vocab()) return {};
    const std::string& text = vocab_.tokens[size_t(id)];
    switch (attr(id)) {
      case TokenAttr::Control:
        return render_special ? text : std::string();
      case TokenAttr::Unknown:
        return std::string(kUnknownMark);
      case TokenAttr::Byte: {
        int byte = parse_byte_token(text);
        return byte >= 0 ? std::string(1, char(byte)) : text;
      }
      default:
        return unescape_spaces(text);
    }
  }

 private:
  TokenAttr attr(int32_t id) const {
    return size_t(id) < vocab_.attrs.size() ? vocab_.attrs[size_t(id)] : TokenAttr::Normal;
  }

  int32_t find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
  }

  // "<0xXX>" if the vocabulary has it, else the byte itself as a token, else <unk>.
  int32_t find_byte_token(int byte) const {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", byte);
    int32_t id = find(name);
    const char raw = char(byte);
    if (id < 0) id = find(std::string_view(&raw, 1));
    return id >= 0 ? id : vocab_.unk_id;
  }

  void queue_bigram(std::string_view text, const std::vector<Symbol>& symbols, int32_t left,
                    std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority>& queue) const {
    if (left < 0 || symbols[size_t(left)].next < 0) return;
    const Symbol& a = symbols[size_t(left)];
    const Symbol& b = symbols[size_t(a.next)];
    int32_t id = find(text.substr(a.offset, a.length + b.length));
    if (id < 0) return;
    float score = size_t(id) < vocab_.scores.size() ? vocab_.scores[size_t(id)] : 0.0f;
    queue.push(Bigram{score, left, a.length + b.length});
  }

  void encode_escaped(std::string_view text, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    for (size_t offset = 0; offset < text.size();) {
      auto length = uint32_t(unicode::sequence_length(text, offset));
      const auto index = int32_t(symbols.size());
      symbols.push_back(Symbol{uint32_t(offset), length, index - 1, -1});
      if (index > 0) symbols[size_t(index - 1)].next = index;
      offset += length;
    }
    std::priority_queue<Bigram, std::vector<Bigram>, LowerPriority> queue;
    for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) queue_bigram(text, symbols, i, queue);
    while (!queue.empty()) {
      const Bigram best = queue.top();
      queue.pop();
      Symbol& left = symbols[size_t(best.left)];
      if (left.length == 0 || left.next < 0) continue;
      Symbol& right = symbols[size_t(left.next)];
      if (left.length + right.length != best.length) continue;  // a side merged since
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (left.next >= 0) symbols[size_t(left.next)].prev = best.left;
      queue_bigram(text, symbols, left.prev, queue);
      queue_bigram(text, symbols, best.left, queue);
    }
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[size_t(i)].next) {
      emit_symbol(text.substr(symbols[size_t(i)].offset, symbols[size_t(i)].length), out);
    }
  }

  // Merged symbols are tokens by construction; only single characters can be
  // missing from the vocabulary, and those become their bytes.
  void emit_symbol(std::string_view symbol, std::vector<int32_t>& out) const {
    if (int32_t id = find(symbol); id >= 0) {
      out.push_back(id);
      return;
    }
    for (char c : symbol) {
      int32_t id = byte_ids_[uint8_t(c)];
      if (id >= 0) out.push_back(id);
    }
  }

  SpecialTokenSplitter specials_;
  std::unordered_map<std::string_view, int32_t> ids_;  // views into vocab_.tokens
  int32_t byte_ids_[256];
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab) {
  return std::make_unique<SpmTokenizer>(std::move(vocab));
}

}  // namespace kvlite
