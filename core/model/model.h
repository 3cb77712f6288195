// A loaded model: hyperparameters from the GGUF metadata, weights in memory,
// the tokenizer. Architectures read from this; the session drives them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kvlite/kvlite.h"
#include "tokenizer/tokenizer.h"

namespace kvlite {

struct Hparams {
  std::string arch;
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int32_t n_vocab = 0, n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::Adjacent;
  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  WeightMatrix wq, wk, wv, wo;
  WeightMatrix ffn_gate, ffn_up, ffn_down;
};

struct ModelWeights {
  WeightMatrix token_embd;
  std::vector<float> output_norm;
  WeightMatrix output;  // the embedding matrix itself when tied
  std::vector<LayerWeights> layers;
};

// Memory for one tensor's bytes, 64-byte aligned (SIMD loads, cache lines).
struct AlignedBytes {
  struct Free { void operator()(uint8_t* p) const; };
  std::unique_ptr<uint8_t, Free> data;
  size_t size = 0;
  static AlignedBytes allocate(size_t n);  // data is null when memory ran out
};

struct Model::Impl {
  GgufFile gguf;
  ModelInfo info;
  Hparams hp;
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<AlignedBytes> storage;
  ModelWeights weights;
};

// Reads the hyperparameters of a supported architecture; errors name the
// architecture or the missing key.
Result<Hparams> read_hparams(const GgufFile& gguf);

}  // namespace kvlite
