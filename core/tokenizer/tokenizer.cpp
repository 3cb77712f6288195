// make_tokenizer: picks the tokenizer the vocabulary's model names. Kept apart
// from read_vocab so code that builds a Vocab by hand needs no GGUF reader.
#include "tokenizer/tokenizer.h"

#include "tokenizer/impl.h"

namespace kvlite {

Result<std::unique_ptr<Tokenizer>> make_tokenizer(Vocab vocab) {
  if (vocab.tokens.empty()) return Status::Error("tokenizer.ggml.tokens: the vocabulary is empty");
  if (!vocab.attrs.empty() && vocab.attrs.size() != vocab.tokens.size()) {
    return Status::Error("tokenizer.ggml.token_type: " + std::to_string(vocab.attrs.size()) +
                         " entries for " + std::to_string(vocab.tokens.size()) + " tokens");
  }
  if (!vocab.scores.empty() && vocab.scores.size() != vocab.tokens.size()) {
    return Status::Error("tokenizer.ggml.scores: " + std::to_string(vocab.scores.size()) +
                         " entries for " + std::to_string(vocab.tokens.size()) + " tokens");
  }
  if (vocab.model == "llama") return make_spm_tokenizer(std::move(vocab));
  if (vocab.model == "gpt2") return make_bpe_tokenizer(std::move(vocab));
  return Status::Error("tokenizer.ggml.model: unsupported tokenizer model '" + vocab.model +
                       "' (known: llama, gpt2)");
}

}  // namespace kvlite
