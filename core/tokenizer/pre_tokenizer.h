// The regex splits that byte-level BPE models apply before merging (merges
// never cross a split), hand-written over code points because std::regex has
// no \p{L} / \p{N}.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

namespace kvlite {

enum class PreTokenizer {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  Gpt2,
  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
  //  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  Llama3,
  // As Llama3 with \p{N} one digit at a time.
  Qwen2,
  // SmolLM: every digit split off on its own first (\p{N}), then Gpt2 within
  // each piece between digits.
  SmolLm,
};

// tokenizer.ggml.pre -> splitter; nullopt for names this runtime does not know.
std::optional<PreTokenizer> pre_tokenizer_from_name(std::string_view name);

// Splits text into words (views into text) that cover it exactly, in order.
void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& words);

}  // namespace kvlite
