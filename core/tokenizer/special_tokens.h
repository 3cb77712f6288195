// Splits input text around the text of special tokens before the model's
// own tokenizer sees it, so "<s>" typed in a prompt becomes token 1 instead
// of the characters '<', 's', '>'.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace kvlite {

// A run of raw text (token < 0) or one special token found in the input.
struct Fragment {
  std::string_view text;
  int32_t token = -1;
  bool is_token() const { return token >= 0; }
};

class SpecialTokenSplitter {
 public:
  explicit SpecialTokenSplitter(const Vocab& vocab);
  // User-defined tokens are always split out (as llama.cpp does); control
  // and unknown tokens only with parse_special. Empty text gives nothing.
  void split(std::string_view text, bool parse_special, std::vector<Fragment>& out) const;

 private:
  struct Special {
    std::string_view text;
    int32_t id;
    bool always;  // user-defined: split out even without parse_special
  };
  std::vector<Special> specials_;  // longest text first: a longer token wins over its prefix
};

}  // namespace kvlite
