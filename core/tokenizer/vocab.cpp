// read_vocab: the tokenizer.ggml.* metadata into a Vocab, checked so that a
// tokenizer built from it never indexes out of range.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "format/gguf.h"
#include "tokenizer/tokenizer.h"

namespace kvlite {
namespace {

constexpr std::string_view kPrefix = "tokenizer.ggml.";

std::string key(std::string_view name) { return std::string(kPrefix) + std::string(name); }

// take: move the strings out of the metadata, leaving the head that
// metadata listings show (GgufArray::keep_first), instead of copying them.
Status read_strings(const GgufFile& gguf, const std::string& k, bool required, bool take,
                    std::vector<std::string>& out) {
  if (!required && gguf.find(k) == nullptr) return Status::Ok();
  Result<const GgufArray*> array = gguf.get_array(k);
  if (!array) return array.status();
  if ((*array)->elem_type != GgufValueType::STRING) return Status::Error(k + ": expected an array of strings");
  if (!take) {
    out = (*array)->strings;
    return Status::Ok();
  }
  GgufArray& a = const_cast<GgufArray&>(**array);  // take_vocab holds the file non-const
  out = std::move(a.strings);
  const size_t head = std::min(out.size(), kMetadataItemsShown);
  a.strings.assign(out.begin(), out.begin() + std::ptrdiff_t(head));
  a.dropped += out.size() - head;
  return Status::Ok();
}

Status read_scores(const GgufFile& gguf, size_t n_tokens, std::vector<float>& out) {
  const std::string k = key("scores");
  if (gguf.find(k) == nullptr) return Status::Ok();
  Result<const GgufArray*> array = gguf.get_array(k);
  if (!array) return array.status();
  const GgufArray& a = **array;
  if (a.elem_type != GgufValueType::FLOAT32 && a.elem_type != GgufValueType::FLOAT64) {
    return Status::Error(k + ": expected an array of floats");
  }
  if (a.floats.size() != n_tokens) {
    return Status::Error(k + ": " + std::to_string(a.floats.size()) + " scores for " + std::to_string(n_tokens) +
                         " tokens");
  }
  out.assign(a.floats.begin(), a.floats.end());
  return Status::Ok();
}

Status read_attrs(const GgufFile& gguf, size_t n_tokens, std::vector<TokenAttr>& out) {
  const std::string k = key("token_type");
  if (gguf.find(k) == nullptr) return Status::Ok();
  Result<const GgufArray*> array = gguf.get_array(k);
  if (!array) return array.status();
  const GgufArray& a = **array;
  if (a.ints.size() != n_tokens || a.ints.size() != a.size()) {
    return Status::Error(k + ": expected " + std::to_string(n_tokens) + " integers, one per token");
  }
  out.reserve(n_tokens);
  for (size_t i = 0; i < n_tokens; ++i) {
    const int64_t t = a.ints[i];
    if (t < int64_t(TokenAttr::Undefined) || t > int64_t(TokenAttr::Byte)) {
      return Status::Error(k + ": token " + std::to_string(i) + " has unknown type " + std::to_string(t));
    }
    out.push_back(TokenAttr(t));
  }
  return Status::Ok();
}

// A special-token id: absent gives -1, and so does "none", which converters
// write as -1 or as 0xFFFFFFFF in a uint32; anything else must name a token.
Status read_id(const GgufFile& gguf, std::string_view name, size_t n_tokens, int32_t& out) {
  const std::string k = key(name);
  Result<int64_t> id = gguf.get_int_or(k, -1);
  if (!id) return id.status();
  if (*id == int64_t(UINT32_MAX)) *id = -1;
  if (*id >= int64_t(n_tokens)) {
    return Status::Error(k + ": id " + std::to_string(*id) + " is outside the vocabulary of " +
                         std::to_string(n_tokens) + " tokens");
  }
  out = *id < 0 ? -1 : int32_t(*id);
  return Status::Ok();
}

Status read_flag(const GgufFile& gguf, std::string_view name, bool fallback, bool& out) {
  Result<bool> flag = gguf.get_bool_or(key(name), fallback);
  if (!flag) return flag.status();
  out = *flag;
  return Status::Ok();
}

Status read_special_ids(const GgufFile& gguf, Vocab& v) {
  const size_t n = v.tokens.size();
  KVLITE_TRY(read_id(gguf, "bos_token_id", n, v.bos_id));
  KVLITE_TRY(read_id(gguf, "eos_token_id", n, v.eos_id));
  KVLITE_TRY(read_id(gguf, "unknown_token_id", n, v.unk_id));
  KVLITE_TRY(read_id(gguf, "padding_token_id", n, v.pad_id));
  KVLITE_TRY(read_id(gguf, "eot_token_id", n, v.eot_id));
  return Status::Ok();
}

Result<Vocab> read_vocab_from(const GgufFile& gguf, bool take) {
  Vocab v;
  Result<std::string> model = gguf.get_string(key("model"));
  if (!model) return model.status();
  v.model = *model;
  Result<std::string> pre = gguf.get_string_or(key("pre"), "");
  if (!pre) return pre.status();
  v.pre = *pre;

  KVLITE_TRY(read_strings(gguf, key("tokens"), true, take, v.tokens));
  if (v.tokens.empty()) return Status::Error(key("tokens") + ": the vocabulary is empty");
  KVLITE_TRY(read_scores(gguf, v.tokens.size(), v.scores));
  KVLITE_TRY(read_attrs(gguf, v.tokens.size(), v.attrs));
  KVLITE_TRY(read_strings(gguf, key("merges"), false, take, v.merges));
  KVLITE_TRY(read_special_ids(gguf, v));

  // SentencePiece models start with BOS unless told otherwise; GPT-2 style do not.
  const bool spm = v.model == "llama";
  KVLITE_TRY(read_flag(gguf, "add_bos_token", spm, v.add_bos));
  KVLITE_TRY(read_flag(gguf, "add_eos_token", false, v.add_eos));
  KVLITE_TRY(read_flag(gguf, "add_space_prefix", spm, v.add_space_prefix));

  Result<std::string> chat_template = gguf.get_string_or("tokenizer.chat_template", "");
  if (!chat_template) return chat_template.status();
  v.chat_template = *chat_template;
  return v;
}

}  // namespace

Result<Vocab> read_vocab(const GgufFile& gguf) { return read_vocab_from(gguf, false); }

Result<Vocab> take_vocab(GgufFile& gguf) { return read_vocab_from(gguf, true); }

}  // namespace kvlite
