// Random-weight models of any supported architecture and shape, written with
// the project's own GGUF writer (see RandomModelSpec in kvlite.h).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "format/gguf_writer.h"
#include "kvlite/kvlite.h"
#include "model/architecture.h"
#include "tokenizer/tokenizer.h"

namespace kvlite {

namespace {

// splitmix64: fast, seedable, and the same on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1).
  float symmetric() { return float(double(next() >> 11) * (2.0 / 9007199254740992.0) - 1.0); }

 private:
  uint64_t state_;
};

// <unk> <s> </s>, the 256 byte tokens, "▁" and the letters, a few merges with
// rising scores, then unused padding up to n_vocab.
void add_vocab(GgufWriter& w, int32_t n_vocab) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {int32_t(TokenAttr::Unknown), int32_t(TokenAttr::Control), int32_t(TokenAttr::Control)};
  const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">");
    scores.push_back(0);
    types.push_back(int32_t(TokenAttr::Byte));
  }
  const std::string space = "\xe2\x96\x81";  // SentencePiece's word boundary, U+2581
  std::vector<std::string> pieces = {space};
  for (char c = 'a'; c <= 'z'; ++c) pieces.push_back(std::string(1, c));
  for (const std::string& merged : {space + "t", std::string("he"), space + "the", std::string("in"),
                                    std::string("an"), space + "a", std::string("er"), std::string("on")}) {
    pieces.push_back(merged);
  }
  for (size_t i = 0; i < pieces.size(); ++i) {
    tokens.push_back(pieces[i]);
    scores.push_back(-float(pieces.size() - i));
    types.push_back(int32_t(TokenAttr::Normal));
  }
  while (int32_t(tokens.size()) < n_vocab) {
    tokens.push_back("<unused" + std::to_string(tokens.size()) + ">");
    scores.push_back(-1e9f);
    types.push_back(int32_t(TokenAttr::Unused));
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
}

// A real byte-level BPE vocabulary (e.g. Llama 3's), as llama.cpp's converter
// writes one: GPT-2 model, named pre-tokenizer, no scores, merges in rank order.
Status add_bpe_vocab(GgufWriter& w, const RandomModelSpec& spec) {
  const int32_t n = int32_t(spec.bpe_tokens.size());
  std::vector<int32_t> types;
  types.reserve(spec.bpe_tokens.size());
  for (const std::string& t : spec.bpe_tokens) {
    const bool control = t.size() > 4 && t.starts_with("<|") && t.ends_with("|>");
    types.push_back(int32_t(control ? TokenAttr::Control : TokenAttr::Normal));
  }
  for (const auto& [key, id] : {std::pair{"bos_token_id", spec.bpe_bos}, std::pair{"eos_token_id", spec.bpe_eos},
                                std::pair{"eot_token_id", spec.bpe_eot}}) {
    if (id >= n) {
      return Status::Error(std::string("BPE vocabulary: ") + key + " " + std::to_string(id) + " is outside its " +
                           std::to_string(n) + " tokens");
    }
    if (id >= 0) w.set_u32(std::string("tokenizer.ggml.") + key, uint32_t(id));
  }
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", spec.bpe_pre);
  w.set_string_array("tokenizer.ggml.tokens", spec.bpe_tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", spec.bpe_merges);
  w.set_bool("tokenizer.ggml.add_bos_token", spec.bpe_bos >= 0);
  return Status::Ok();
}

const TypeTraits* find_type(const std::string& name) {
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* t = type_traits(id);
    if (t && name == t->name) return t->from_float ? t : nullptr;
  }
  return nullptr;
}

// llama.cpp's choice of which blocks get more bits in its _M mixes: the first
// and last eighth, and every third block between.
bool more_bits_block(int32_t i, int32_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

}  // namespace

Status write_random_model(const RandomModelSpec& spec, const std::string& path) {
  // Q4_K_M names a mix, not a type: the type of each matrix is chosen below.
  const bool q4_k_m = spec.weight_type == "Q4_K_M";
  const TypeTraits* wt = find_type(q4_k_m ? "Q4_K" : spec.weight_type);
  const TypeTraits* more_bits = q4_k_m ? find_type("Q6_K") : wt;
  if (!wt || !more_bits) return Status::Error("cannot write weights of type '" + spec.weight_type + "'");
  const bool bpe = !spec.bpe_tokens.empty();
  const int32_t n_vocab = bpe ? int32_t(spec.bpe_tokens.size()) : spec.n_vocab;
  if (!bpe && n_vocab < 300) return Status::Error("n_vocab must be at least 300");
  if (spec.n_head % spec.n_head_kv != 0 || spec.n_embd % spec.n_head != 0) {
    return Status::Error("head counts do not divide the embedding");
  }
  const Architecture* arch = find_architecture(spec.architecture);
  if (!arch) return Status::Error("cannot write a model of unsupported architecture '" + spec.architecture + "'");
  const std::string a = spec.architecture + ".";
  GgufWriter w;
  w.set_string("general.architecture", spec.architecture);
  w.set_string("general.name", "kvlite random " + spec.architecture);
  w.set_u32(a + "block_count", uint32_t(spec.n_layer));
  w.set_u32(a + "embedding_length", uint32_t(spec.n_embd));
  w.set_u32(a + "feed_forward_length", uint32_t(spec.n_ff));
  w.set_u32(a + "attention.head_count", uint32_t(spec.n_head));
  w.set_u32(a + "attention.head_count_kv", uint32_t(spec.n_head_kv));
  w.set_u32(a + "context_length", uint32_t(spec.n_ctx));
  w.set_f32(a + "rope.freq_base", spec.rope_theta);
  w.set_f32(a + "attention.layer_norm_rms_epsilon", 1e-5f);
  if (spec.sliding_window > 0) w.set_u32(a + "attention.sliding_window", uint32_t(spec.sliding_window));
  if (bpe) {
    KVLITE_TRY(add_bpe_vocab(w, spec));
  } else {
    add_vocab(w, n_vocab);
  }

  uint64_t stream = spec.seed * 0x100000001b3ull;
  // Matrices get uniform values scaled so activations keep unit size.
  auto matrix = [&](const std::string& name, int64_t cols, int64_t rows, const TypeTraits& type) {
    const uint64_t seed = ++stream;
    const float scale = std::sqrt(3.0f / float(cols));
    return w.add_tensor(name, {cols, rows}, type.type, [=](uint8_t* dst, size_t) {
      Rng rng(seed);
      std::vector<float> row(static_cast<size_t>(cols));
      const size_t stride = row_bytes(type, cols);
      for (int64_t r = 0; r < rows; ++r) {
        for (float& v : row) v = rng.symmetric() * scale;
        type.from_float(row.data(), dst + size_t(r) * stride, cols);
      }
    });
  };
  // Vectors: norm weights near 1, biases near 0.
  auto vector = [&](const std::string& name, int64_t n, float center) {
    const uint64_t seed = ++stream;
    return w.add_tensor(name, {n}, TensorType::F32, [=](uint8_t* dst, size_t) {
      Rng rng(seed);
      std::vector<float> v(static_cast<size_t>(n));
      for (float& x : v) x = center + 0.1f * rng.symmetric();
      std::memcpy(dst, v.data(), v.size() * sizeof(float));
    });
  };
  auto norm = [&](const std::string& name, int64_t n) { return vector(name, n, 1.0f); };
  const int64_t hd = spec.n_embd / spec.n_head, kvd = hd * spec.n_head_kv;
  // The output matrix gets the extra bits; tied, that is the embedding.
  KVLITE_TRY(matrix("token_embd.weight", spec.n_embd, n_vocab, spec.tied_embeddings ? *more_bits : *wt));
  KVLITE_TRY(norm("output_norm.weight", spec.n_embd));
  if (!spec.tied_embeddings) KVLITE_TRY(matrix("output.weight", spec.n_embd, n_vocab, *more_bits));
  for (int32_t i = 0; i < spec.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    const TypeTraits& vd = more_bits_block(i, spec.n_layer) ? *more_bits : *wt;
    KVLITE_TRY(norm(b + "attn_norm.weight", spec.n_embd));
    if (arch->fused) {
      KVLITE_TRY(matrix(b + "attn_qkv.weight", spec.n_embd, spec.n_embd + 2 * kvd, *wt));
    } else {
      KVLITE_TRY(matrix(b + "attn_q.weight", spec.n_embd, spec.n_embd, *wt));
      KVLITE_TRY(matrix(b + "attn_k.weight", spec.n_embd, kvd, *wt));
      KVLITE_TRY(matrix(b + "attn_v.weight", spec.n_embd, kvd, vd));
    }
    if (arch->qkv_bias) {
      KVLITE_TRY(vector(b + "attn_q.bias", spec.n_embd, 0.0f));
      KVLITE_TRY(vector(b + "attn_k.bias", kvd, 0.0f));
      KVLITE_TRY(vector(b + "attn_v.bias", kvd, 0.0f));
    }
    if (arch->qk_norm) {
      KVLITE_TRY(norm(b + "attn_q_norm.weight", hd));
      KVLITE_TRY(norm(b + "attn_k_norm.weight", hd));
    }
    KVLITE_TRY(matrix(b + "attn_output.weight", spec.n_embd, spec.n_embd, *wt));
    if (arch->post_norms) KVLITE_TRY(norm(b + "post_attention_norm.weight", spec.n_embd));
    KVLITE_TRY(norm(b + "ffn_norm.weight", spec.n_embd));
    if (arch->fused) {
      KVLITE_TRY(matrix(b + "ffn_up.weight", spec.n_embd, 2 * int64_t(spec.n_ff), *wt));
    } else {
      KVLITE_TRY(matrix(b + "ffn_gate.weight", spec.n_embd, spec.n_ff, *wt));
      KVLITE_TRY(matrix(b + "ffn_up.weight", spec.n_embd, spec.n_ff, *wt));
    }
    KVLITE_TRY(matrix(b + "ffn_down.weight", spec.n_ff, spec.n_embd, vd));
    if (arch->post_norms) KVLITE_TRY(norm(b + "post_ffw_norm.weight", spec.n_embd));
  }
  return w.write_file(path);
}

}  // namespace kvlite
