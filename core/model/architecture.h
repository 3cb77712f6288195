// One row per supported architecture: what its blocks add to llama's. The
// loader plans tensors from the row and the forward pass branches on its
// flags, so an architecture is a row here, not a switch across the engine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kernels/ops.h"

namespace kvlite {

struct Architecture {
  std::string_view name;   // general.architecture
  RopeStyle rope;          // how RoPE pairs a head's dimensions
  bool qkv_bias = false;   // q, k and v projections carry biases (qwen2)
  bool qk_norm = false;    // RMSNorm over each head of q and k before RoPE (qwen3, gemma3)
  bool fused = false;      // one attn_qkv matrix [q|k|v] and one ffn_up [gate|up] (phi3)
  bool post_norms = false; // RMSNorm of the attention and FFN outputs before each residual add (gemma2/3)
  bool embed_scale = false;// embeddings multiplied by sqrt(n_embd) (gemma)
  bool gelu = false;       // FFN gate through GELU (tanh form) instead of SiLU (gemma)
  // With {arch}.attention.sliding_window set, layer l attends only to that
  // many newest positions unless l % period == period - 1 (llama.cpp's rule;
  // {arch}.attention.sliding_window_pattern overrides the period). 0: the
  // architecture has no local layers and the key is ignored, as llama.cpp
  // does for phi3 and mistral files.
  int32_t swa_period = 0;
};

// The row for general.architecture, or null when kvlite does not support it.
const Architecture* find_architecture(std::string_view name);
// "llama, qwen2, ..." for error messages and docs.
std::string supported_architectures();

}  // namespace kvlite
