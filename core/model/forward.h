// The forward pass of each architecture: tokens at consecutive positions in,
// keys/values into the cache, logits out.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kernels/matmul.h"
#include "kv/kv_cache.h"
#include "model/model.h"
#include "util/thread_pool.h"

namespace kvlite {

// Buffers named for what they hold (per token, n_tokens rows each).
struct ForwardScratch {
  std::vector<float> x;       // residual stream        [n][n_embd]
  std::vector<float> xb;      // normed input           [n][n_embd]
  std::vector<float> q;       // queries                [n][q_dim]
  std::vector<float> k, v;    // new keys / values      [n][kv_dim]
  std::vector<float> att;     // attention output       [n][q_dim]
  std::vector<float> hb, hb2; // FFN gate / up          [n][n_ff]
  std::vector<float> scores;  // attention weights      [n_head][n_ctx]
  MatmulScratch mm;
  std::unique_ptr<ThreadPool> pool;  // null: single-threaded
  void set_threads(int32_t n_threads);
  void reserve(const Hparams& hp, int32_t n_tokens, int32_t n_ctx);
};

// Runs tokens at positions pos0.. through the model, of any supported
// architecture. logits receives n_vocab floats for the last token, or for
// every token when all_logits.
void forward(const Model::Impl& model, KvCache& kv, std::span<const int32_t> tokens, int32_t pos0,
             bool all_logits, ForwardScratch& s, std::vector<float>& logits);

}  // namespace kvlite
