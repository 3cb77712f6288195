// The KV cache: keys (already rotated by RoPE) and values of past positions,
// per layer, and attention over them. Attention lives here because the
// storage decides how keys and values are read.
//
// Each layer holds, per token position:
//   sinks   the first S tokens, FP32, never evicted;
//   window  a ring of the newest W tokens, FP32; when a token leaves it, it is
//           quantized once into its KV head's compressed slots and its FP32
//           slot takes the newcomer (no second copy);
//   slots   per KV head, the older tokens in the K and V formats; with H2O a
//           full head replaces its lowest-scoring token, in sliding mode the
//           token is dropped.
// With FP32 keys and values and no eviction the window spans the whole
// context, so the cache is the plain FP32 one and tokens can be batched.
#pragma once

#include <cstdint>
#include <vector>

#include "kv/kv_format.h"
#include "kvlite/kvlite.h"

namespace kvlite {

class ThreadPool;

struct KvShape {
  int32_t n_layer = 0, n_ctx = 0, n_head_kv = 0, head_dim = 0;
  bool rope_neox = false;  // RoPE pairs (i, i + d/2) rather than (2i, 2i+1): per-channel scales pair them
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

// What an architecture asks of one layer's attention.
struct AttendOptions {
  int32_t window = 0;    // attend only to the newest `window` positions (a sliding-window layer); 0: all
  float softcap = 0.0f;  // scores s become softcap * tanh(s / softcap) before the softmax (gemma2); 0: none
};

class KvCache {
 public:
  // Checks the configuration against the model's shape (q4_0 needs head_dim
  // % 32 == 0, budgets need H2O, ...); errors say which setting is wrong.
  static Status validate(const KvShape& shape, const KvConfig& config);
  // `shape.n_ctx` is the session's context; the config must have passed validate().
  KvCache(const KvShape& shape, const KvConfig& config);

  // Stores the next position's keys and values (kv_dim floats each) for a
  // layer; positions arrive in order from 0 after clear().
  void store(int32_t layer, int32_t pos, const float* k, const float* v);
  // Multi-head attention of one query (n_head * head_dim floats) over the
  // held positions below n_pos: out gets n_head * head_dim floats. Query heads
  // are grouped onto KV heads (n_head / n_head_kv per group). `scores` is
  // scratch of at least n_head * max_tokens() floats. Not const: H2O scores
  // and attention statistics accumulate here.
  // With a pool, KV heads (and the query heads that share each) are split
  // over its threads; every head's arithmetic is the same for any count.
  void attend(int32_t layer, const float* q, int32_t n_head, int32_t n_pos, float* out, float* scores,
              const AttendOptions& options = {}, ThreadPool* pool = nullptr);

  void clear();
  // The most tokens one layer can hold: the attention scratch's size per head.
  int32_t max_tokens() const { return max_tokens_; }
  // True when tokens may go through the forward pass in batches (each token
  // stored, then attending, layer by layer). Every cache but one: the entropy
  // pyramid sets all layers' budgets from every layer's statistics the first
  // time a layer fills, so until then it takes one token at a time.
  bool batchable() const {
    return !(evict_ && config_.pyramid == KvPyramid::Entropy && !budgets_rebalanced_);
  }
  // True when the cache never fills (sliding window or eviction), so
  // positions may go past the context length.
  bool bounded() const { return !plain_ && (config_.sliding || config_.eviction != KvEviction::None); }
  const KvShape& shape() const { return shape_; }
  uint64_t bytes() const;
  KvStats stats() const;

 private:
  // The compressed tokens of one KV head.
  struct Head {
    std::vector<uint8_t> k, v;  // [slot][vector bytes of the format]
    std::vector<int32_t> pos;   // with eviction: each slot's position (else implicit: sinks + slot)
    std::vector<float> score;   // with eviction: each slot's accumulated attention
    int32_t used = 0;
  };
  struct Layer {
    std::vector<float> k, v;    // FP32 sinks then the window ring, [slot][kv_dim]
    std::vector<float> score;   // with eviction: [slot][n_head_kv] accumulated attention
    std::vector<Head> heads;
    std::vector<float> k_channel, v_channel;  // ChannelScale: [n_head_kv][head_dim] divisors
    bool calibrated = false;
    int32_t budget = 0;         // tokens per head (0: no limit)
    int64_t seen = 0;           // tokens stored so far
    int64_t evicted = 0;        // head-tokens dropped
    double entropy_sum = 0, recent_sum = 0;
    int64_t stat_count = 0;     // (query, head) pairs measured
  };

  int32_t fp_slots() const { return sinks_ + window_; }
  int32_t fp_slot_of(int32_t pos) const;
  int32_t pos_in_fp_slot(int32_t slot, int64_t seen) const;
  int32_t slot_capacity(const Layer& layer) const;
  void hand_over(Layer& layer, const float* k, const float* v, int32_t pos, const float* score);
  float eviction_weight(const Layer& layer, float score, int32_t pos) const;
  int32_t lightest_slot(const Layer& layer, const Head& head, int32_t n) const;
  void store_in_slot(Layer& layer, int32_t head, int32_t slot, const float* k, const float* v);
  void calibrate_channels(Layer& layer, const float* k, const float* v);
  void resize_slots(Layer& layer, int32_t capacity);
  void rebalance_budgets();
  void attend_group(Layer& layer, int32_t kv_head, const float* q, int32_t group, int32_t n_pos, float* out,
                   float* scores, const AttendOptions& options);
  int32_t slot_pos(const Head& head, int32_t i) const { return evict_ ? head.pos[size_t(i)] : sinks_ + i; }
  void record_stats(const Head& head, const float* scores, int32_t group, int32_t n_pos, int32_t kv_head);
  uint64_t layer_bytes(const Layer& layer) const;
  KvLayerStats layer_stats(const Layer& layer) const;

  KvShape shape_;
  KvConfig config_;
  const KvFormatTraits* kf_;
  const KvFormatTraits* vf_;
  KvTransform kt_, vt_;  // the formats' transforms, None where they do not apply
  size_t k_bytes_, v_bytes_;  // bytes of one head vector in the K / V format
  // Non-null where the K / V slots are 4-bit codes attention works on directly.
  const KvQ4Codebook* kq4_;
  const KvQ4Codebook* vq4_;
  bool plain_;
  bool evict_;
  int32_t sinks_, window_, max_tokens_;
  bool budgets_rebalanced_ = false;
  std::vector<Layer> layers_;
  // attend's scratch: the valid FP32 slots and their positions, and per KV
  // head (so heads can run on different threads): queries in the compressed
  // keys' domain, weighted sums of compressed values, attention statistics.
  std::vector<int32_t> fp_list_, fp_pos_;
  std::vector<float> qc_, acc_, q8_scale_;
  std::vector<int8_t> q8_;  // queries in the compressed keys' domain as int8, for 4-bit keys
  std::vector<double> group_entropy_, group_recent_;
};

}  // namespace kvlite
