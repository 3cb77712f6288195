// Byte-level BPE (GPT-2 style): the pre-tokenizer cuts the text into words,
// each byte of a word is written as a printable character (GPT-2's
// byte-to-unicode table), and adjacent symbols merge in the order of the
// merges list (lowest rank first).
#include <array>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/impl.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/special_tokens.h"
#include "tokenizer/unicode.h"

namespace kvlite {
namespace {

// GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68
// bytes take the code points from U+0100 on, in byte order.
struct ByteTable {
  std::array<std::string, 256> to_text;
  std::unordered_map<uint32_t, uint8_t> to_byte;

  ByteTable() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const uint32_t cp = printable ? b : next++;
      unicode::append_utf8(to_text[b], cp);
      to_byte[cp] = uint8_t(b);
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

struct Symbol {
  uint32_t offset, length;  // bytes of the mapped word
  int32_t prev, next;
};

struct Candidate {
  int32_t rank;
  int32_t left;
  uint32_t length;  // combined bytes when queued; stale once either side changed
};

struct LowerPriority {
  // Lowest rank first; on equal ranks the leftmost pair.
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

using MergeQueue = std::priority_queue<Candidate, std::vector<Candidate>, LowerPriority>;

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(Vocab v, PreTokenizer pre) : Tokenizer(std::move(v)), pre_(pre), specials_(vocab_) {
    ids_.reserve(vocab_.tokens.size());
    for (size_t id = 0; id < vocab_.tokens.size(); ++id) ids_[vocab_.tokens[id]] = int32_t(id);
    ranks_.reserve(vocab_.merges.size());
    for (size_t rank = 0; rank < vocab_.merges.size(); ++rank) ranks_.emplace(vocab_.merges[rank], int32_t(rank));
  }

  std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const override {
    std::vector<int32_t> out;
    if (add_special && vocab_.add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
    std::vector<Fragment> fragments;
    std::vector<std::string_view> words;
    specials_.split(text, parse_special, fragments);
    for (const Fragment& fragment : fragments) {
      if (fragment.is_token()) {
        out.push_back(fragment.token);
        continue;
      }
      pre_tokenize(pre_, fragment.text, words);
      for (std::string_view word : words) encode_word(word, out);
    }
    if (add_special && vocab_.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
    return out;
  }

  std::string piece(int32_t id, bool render_special) const override {
    if (id < 0 || id >= n_vocab()) return {};
    const std::string& text = vocab_.tokens[size_t(id)];
    const TokenAttr a = size_t(id) < vocab_.attrs.size() ? vocab_.attrs[size_t(id)] : TokenAttr::Normal;
    if (a == TokenAttr::Control) return render_special ? text : std::string();
    return unmap_bytes(text);
  }

 private:
  // Characters outside the byte table (added tokens written in plain text)
  // are kept as they are.
  static std::string unmap_bytes(std::string_view text) {
    const ByteTable& table = byte_table();
    std::vector<unicode::Char> chars;
    unicode::decode(text, chars);
    std::string out;
    for (const unicode::Char& c : chars) {
      auto it = table.to_byte.find(c.cp);
      if (it != table.to_byte.end()) out += char(it->second);
      else out += text.substr(c.offset, c.length);
    }
    return out;
  }

  int32_t find(std::string_view text) const {
    auto it = ids_.find(text);
    return it == ids_.end() ? -1 : it->second;
  }

  void queue_pair(const std::string& word, const std::vector<Symbol>& symbols, int32_t left, MergeQueue& queue,
                  std::string& key) const {
    if (left < 0 || symbols[size_t(left)].next < 0) return;
    const Symbol& a = symbols[size_t(left)];
    const Symbol& b = symbols[size_t(a.next)];
    key.assign(word, a.offset, a.length);
    key += ' ';
    key.append(word, b.offset, b.length);
    auto it = ranks_.find(key);
    if (it != ranks_.end()) queue.push(Candidate{it->second, left, a.length + b.length});
  }

  void encode_word(std::string_view raw, std::vector<int32_t>& out) const {
    std::string word;
    std::vector<Symbol> symbols;
    for (char c : raw) {
      const std::string& mapped = byte_table().to_text[uint8_t(c)];
      const auto index = int32_t(symbols.size());
      symbols.push_back(Symbol{uint32_t(word.size()), uint32_t(mapped.size()), index - 1, -1});
      if (index > 0) symbols[size_t(index - 1)].next = index;
      word += mapped;
    }
    // Llama 3's tokenizer takes a word that is already a token as it is.
    if (pre_ == PreTokenizer::Llama3) {
      if (int32_t id = find(word); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    merge(word, symbols);
    for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[size_t(i)].next) {
      emit_symbol(std::string_view(word).substr(symbols[size_t(i)].offset, symbols[size_t(i)].length), out);
    }
  }

  void merge(const std::string& word, std::vector<Symbol>& symbols) const {
    MergeQueue queue;
    std::string key;
    for (int32_t i = 0; i + 1 < int32_t(symbols.size()); ++i) queue_pair(word, symbols, i, queue, key);
    while (!queue.empty()) {
      const Candidate best = queue.top();
      queue.pop();
      Symbol& left = symbols[size_t(best.left)];
      if (left.length == 0 || left.next < 0) continue;
      Symbol& right = symbols[size_t(left.next)];
      if (left.length + right.length != best.length) continue;  // a side merged since
      left.length += right.length;
      right.length = 0;
      left.next = right.next;
      if (left.next >= 0) symbols[size_t(left.next)].prev = best.left;
      queue_pair(word, symbols, left.prev, queue, key);
      queue_pair(word, symbols, best.left, queue, key);
    }
  }

  // A symbol without a token (a merge whose result is missing from the
  // vocabulary) falls back to its characters, then to <unk>.
  void emit_symbol(std::string_view symbol, std::vector<int32_t>& out) const {
    if (int32_t id = find(symbol); id >= 0) {
      out.push_back(id);
      return;
    }
    for (size_t offset = 0; offset < symbol.size();) {
      const size_t length = unicode::sequence_length(symbol, offset);
      int32_t id = find(symbol.substr(offset, length));
      if (id < 0) id = vocab_.unk_id;
      if (id >= 0) out.push_back(id);
      offset += length;
    }
  }

  PreTokenizer pre_;
  SpecialTokenSplitter specials_;
  std::unordered_map<std::string_view, int32_t> ids_;    // views into vocab_.tokens
  std::unordered_map<std::string_view, int32_t> ranks_;  // "a b" -> rank, views into vocab_.merges
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(Vocab vocab) {
  const std::optional<PreTokenizer> pre = pre_tokenizer_from_name(vocab.pre);
  if (!pre) {
    return Status::Error("tokenizer.ggml.pre: unsupported pre-tokenizer '" + vocab.pre +
                         "' (known: default, gpt2, llama-bpe, llama3, qwen2)");
  }
  std::unique_ptr<Tokenizer> tokenizer = std::make_unique<BpeTokenizer>(std::move(vocab), *pre);
  return tokenizer;
}

}  // namespace kvlite
