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
#include "model/architecture.h"
#include "tokenizer/tokenizer.h"

namespace kvlite {

struct Hparams {
  std::string arch;
  const Architecture* family = nullptr;  // the architecture's row: what its blocks add to llama's
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int32_t n_vocab = 0, n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  float rope_theta_local = 10000.0f;  // sliding-window layers' base (gemma3's rope.freq_base_swa)
  float rope_freq_scale = 1.0f;       // linear RoPE scaling (global layers): angles times this
  std::vector<float> rope_factors;    // per-frequency divisors of the global layers (llama3 scaling), or empty
  // LongRoPE (phi3): rope_factors holds the file's short factors, these the
  // long ones, used when a session's context exceeds n_ctx_orig.
  std::vector<float> rope_factors_long;
  int32_t n_ctx_orig = 0;             // rope.scaling.original_context_length (default: context_length)
  float rope_attn_factor = 1.0f;      // rope.scaling.attn_factor: rotated q and k are scaled by it
  RopeStyle rope_style = RopeStyle::Adjacent;
  float attn_softcap = 0.0f;          // attention scores become c * tanh(s / c) (0: none)
  float final_softcap = 0.0f;         // the same on the output logits
  std::vector<int32_t> layer_window;  // per layer: attend to this many newest positions (0: all)
  int32_t q_dim() const { return n_head * head_dim; }
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  WeightMatrix wq, wk, wv, wo;
  WeightMatrix ffn_gate, ffn_up, ffn_down;
  std::vector<float> bq, bk, bv;                   // qkv_bias
  std::vector<float> q_norm, k_norm;               // qk_norm: head_dim each
  std::vector<float> post_attn_norm, post_ffn_norm;  // post_norms
  WeightMatrix wqkv, ffn_gate_up;  // fused: wq, wk, wv and ffn_gate, ffn_up are row ranges of these
};

struct ModelWeights {
  WeightMatrix token_embd;
  std::vector<float> output_norm;
  WeightMatrix output;  // the embedding matrix itself when tied
  std::vector<float> rope_freqs;  // optional: the file's own per-frequency RoPE divisors
  std::vector<float> rope_short, rope_long;  // optional: LongRoPE's divisors within / past the original context
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

// Llama 3.x RoPE scaling as divisors of each of the head_dim / 2 frequencies:
// 1 for wavelengths shorter than original_ctx / high_freq_factor, `factor`
// for those longer than original_ctx / low_freq_factor, and a smooth blend
// between (Meta's reference rule; llama.cpp reads it as a rope_freqs tensor).
std::vector<float> llama3_rope_factors(int32_t head_dim, float theta, float factor, float low_freq_factor,
                                       float high_freq_factor, float original_ctx);

}  // namespace kvlite
