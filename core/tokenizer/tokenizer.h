// Tokenizers built from GGUF metadata (tokenizer.ggml.*): SentencePiece-style
// ("llama": scores, byte fallback, dummy prefix) and byte-level BPE ("gpt2":
// merges, with the llama-bpe / qwen2 pre-tokenizer splits).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kvlite {

class GgufFile;

enum class TokenAttr : int32_t {  // tokenizer.ggml.token_type values
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
};

struct Vocab {
  std::string model;                // "llama" or "gpt2"
  std::string pre;                  // tokenizer.ggml.pre ("llama-bpe", "qwen2", "default", ...)
  std::vector<std::string> tokens;  // id -> text as stored in the GGUF
  std::vector<float> scores;        // may be empty for BPE
  std::vector<TokenAttr> attrs;     // may be empty: then every token is Normal
  std::vector<std::string> merges;  // BPE only: "a b" in rank order
  int32_t bos_id = -1, eos_id = -1, unk_id = -1, pad_id = -1, eot_id = -1;
  bool add_bos = false, add_eos = false;
  bool add_space_prefix = true;     // tokenizer.ggml.add_space_prefix (SPM)
  std::string chat_template;        // tokenizer.chat_template, may be empty
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Text to ids. add_special adds BOS/EOS as the vocabulary says;
  // parse_special turns special-token text such as "<s>" into its token.
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const = 0;
  // The bytes a token stands for (byte tokens give their byte, "▁" gives " ").
  // Control tokens give "" unless render_special.
  virtual std::string piece(int32_t id, bool render_special = false) const = 0;
  const Vocab& vocab() const { return vocab_; }
  int32_t n_vocab() const { return int32_t(vocab_.tokens.size()); }
  bool is_end_of_generation(int32_t id) const { return id == vocab_.eos_id || id == vocab_.eot_id; }

 protected:
  explicit Tokenizer(Vocab v) : vocab_(std::move(v)) {}
  Vocab vocab_;
};

// Reads the vocabulary from the metadata; errors name the missing or bad key.
Result<Vocab> read_vocab(const GgufFile& gguf);
// The same, moving the token and merge strings out of the metadata instead of
// copying them (the model loader: a 128K vocabulary need not exist twice).
Result<Vocab> take_vocab(GgufFile& gguf);
// Builds the tokenizer the vocabulary asks for; unknown models are errors.
Result<std::unique_ptr<Tokenizer>> make_tokenizer(Vocab vocab);

}  // namespace kvlite
