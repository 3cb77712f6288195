// Constructors of the concrete tokenizers, for make_tokenizer.
#pragma once

#include <memory>

#include "tokenizer/tokenizer.h"

namespace kvlite {

std::unique_ptr<Tokenizer> make_spm_tokenizer(Vocab vocab);
Result<std::unique_ptr<Tokenizer>> make_bpe_tokenizer(Vocab vocab);

}  // namespace kvlite
