// Storing tokens: sinks and window at FP32, the hand-over into compressed
// slots, H2O eviction and per-layer budgets.
#include "kv/kv_cache.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kv/kv_budget.h"

namespace kvlite {

namespace {

bool is_plain(const KvConfig& c) {
  return c.k_type == KvType::F32 && c.v_type == KvType::F32 && c.eviction == KvEviction::None && !c.sliding;
}

// The transform a format applies at this head dimension.
KvTransform usable(KvTransform t, int32_t head_dim) {
  if (t == KvTransform::HadamardSmallBlocks) t = head_dim < 16 ? KvTransform::Hadamard : KvTransform::None;
  return t == KvTransform::Hadamard && !is_power_of_two(head_dim) ? KvTransform::None : t;
}

}  // namespace

Status KvCache::validate(const KvShape& shape, const KvConfig& c) {
  if (shape.head_dim > kKvMaxHeadDim) {
    return Status::Error("head dimension " + std::to_string(shape.head_dim) + " exceeds the KV cache's limit of " +
                         std::to_string(kKvMaxHeadDim));
  }
  for (KvType t : {c.k_type, c.v_type}) {
    if (t == KvType::Q4_0 && shape.head_dim % 32 != 0) {
      return Status::Error("KV type q4_0 needs a head dimension divisible by 32 (as in llama.cpp); this model's is " +
                           std::to_string(shape.head_dim));
    }
  }
  if (c.window < 0 || c.sinks < 0) return Status::Error("KV window and sinks must not be negative");
  if (c.eviction != KvEviction::None && c.budget <= 0) return Status::Error("H2O eviction needs a token budget > 0");
  if (c.eviction == KvEviction::None && c.budget != 0) return Status::Error("a KV budget needs an eviction policy (h2o)");
  if (c.pyramid != KvPyramid::None && c.eviction == KvEviction::None) {
    return Status::Error("PyramidKV budgets need H2O eviction and a budget");
  }
  if (c.sliding && c.eviction != KvEviction::None) return Status::Error("sliding window and eviction exclude each other");
  if (c.sliding && c.window + c.sinks == 0) return Status::Error("a sliding window needs a window or sinks");
  return Status::Ok();
}

KvCache::KvCache(const KvShape& shape, const KvConfig& config)
    : shape_(shape),
      config_(config),
      kf_(&kv_format(config.k_type)),
      vf_(&kv_format(config.v_type)),
      kt_(usable(kf_->transform, shape.head_dim)),
      vt_(usable(vf_->transform, shape.head_dim)),
      k_bytes_(kf_->vector_bytes(shape.head_dim)),
      v_bytes_(vf_->vector_bytes(shape.head_dim)),
      kq4_(kv_q4_codebook(config.k_type, shape.head_dim)),
      vq4_(kv_q4_codebook(config.v_type, shape.head_dim)),
      plain_(is_plain(config)),
      evict_(config.eviction != KvEviction::None) {
  // The plain cache is one window over the whole context: no hand-over ever.
  sinks_ = plain_ ? 0 : config.sinks;
  window_ = plain_ ? shape.n_ctx : config.window;
  if (config_.pyramid == KvPyramid::Entropy) config_.attention_stats = true;
  const int32_t reserved = fp_slots();
  std::vector<int32_t> budgets(size_t(shape.n_layer), 0);
  if (evict_) budgets = layer_budgets(shape.n_layer, config.budget, reserved, config.pyramid, nullptr);
  layers_.resize(size_t(shape.n_layer));
  max_tokens_ = reserved;
  for (int32_t l = 0; l < shape.n_layer; ++l) {
    Layer& L = layers_[size_t(l)];
    L.k.assign(size_t(reserved) * size_t(shape.kv_dim()), 0.0f);
    L.v.assign(L.k.size(), 0.0f);
    if (evict_) L.score.assign(size_t(reserved) * size_t(shape.n_head_kv), 0.0f);
    L.heads.resize(size_t(shape.n_head_kv));
    L.budget = budgets[size_t(l)];
    resize_slots(L, slot_capacity(L));
  }
  if (evict_) max_tokens_ = std::max(reserved, max_budget(config.budget, reserved, config.pyramid));
  else if (!config.sliding && !plain_) max_tokens_ = std::max(reserved, shape.n_ctx);
}

// Compressed slots per head: what the budget leaves after sinks and window;
// without eviction, the rest of the context; none in sliding mode.
int32_t KvCache::slot_capacity(const Layer& layer) const {
  if (plain_ || config_.sliding) return 0;
  const int32_t limit = evict_ ? layer.budget : shape_.n_ctx;
  return std::max(0, limit - fp_slots());
}

void KvCache::resize_slots(Layer& layer, int32_t capacity) {
  for (Head& h : layer.heads) {
    h.k.resize(size_t(capacity) * k_bytes_);
    h.v.resize(size_t(capacity) * v_bytes_);
    if (evict_) {
      h.pos.resize(size_t(capacity));
      h.score.resize(size_t(capacity));
    }
    h.k.shrink_to_fit(), h.v.shrink_to_fit(), h.pos.shrink_to_fit(), h.score.shrink_to_fit();
  }
}

int32_t KvCache::fp_slot_of(int32_t pos) const { return pos < sinks_ ? pos : sinks_ + (pos - sinks_) % window_; }

// The position now in an FP32 slot, or -1 when the slot is empty.
int32_t KvCache::pos_in_fp_slot(int32_t slot, int64_t seen) const {
  if (slot < sinks_) return slot < seen ? slot : -1;
  const int64_t r = slot - sinks_, newest = seen - 1 - sinks_ - r;
  if (newest < 0) return -1;
  return int32_t(sinks_ + r + int64_t(window_) * (newest / window_));
}

void KvCache::store(int32_t layer, int32_t pos, const float* k, const float* v) {
  Layer& L = layers_[size_t(layer)];
  const int32_t kvd = shape_.kv_dim(), nkv = shape_.n_head_kv;
  L.seen = int64_t(pos) + 1;
  if (pos < fp_slots()) {
    std::copy(k, k + kvd, L.k.begin() + ptrdiff_t(pos) * kvd);
    std::copy(v, v + kvd, L.v.begin() + ptrdiff_t(pos) * kvd);
    if (evict_) std::fill_n(L.score.begin() + ptrdiff_t(pos) * nkv, nkv, 0.0f);
    return;
  }
  if (window_ == 0) {  // no window: the newcomer goes straight to its slots
    const float zero[kKvMaxHeadDim] = {};
    hand_over(L, k, v, pos, evict_ ? zero : nullptr);
    return;
  }
  // The window is full: its oldest token leaves for the compressed slots
  // and the newcomer takes its FP32 slot.
  const int32_t slot = fp_slot_of(pos);
  float* sk = L.k.data() + ptrdiff_t(slot) * kvd;
  float* sv = L.v.data() + ptrdiff_t(slot) * kvd;
  float* score = evict_ ? L.score.data() + ptrdiff_t(slot) * nkv : nullptr;
  hand_over(L, sk, sv, pos - window_, score);
  std::copy(k, k + kvd, sk);
  std::copy(v, v + kvd, sv);
  if (score) std::fill_n(score, nkv, 0.0f);
}

// H2O ranks tokens by the attention they have accumulated; the mean variant
// divides by the number of queries that saw the token, so old tokens do not
// win by age alone (measured better in docs/kv-quality.md).
float KvCache::eviction_weight(const Layer& L, float score, int32_t pos) const {
  return config_.eviction == KvEviction::H2OMean ? score / float(L.seen - pos) : score;
}

int32_t KvCache::lightest_slot(const Layer& L, const Head& H, int32_t n) const {
  int32_t best = 0;
  float best_w = eviction_weight(L, H.score[0], H.pos[0]);
  for (int32_t i = 1; i < n; ++i) {
    const float w = eviction_weight(L, H.score[size_t(i)], H.pos[size_t(i)]);
    if (w < best_w) best_w = w, best = i;
  }
  return best;
}

// Quantizes one token (all KV heads) into the compressed slots. `score` is
// its accumulated attention per KV head (eviction only).
void KvCache::hand_over(Layer& L, const float* k, const float* v, int32_t pos, const float* score) {
  if (!L.calibrated) calibrate_channels(L, k, v);
  if (evict_ && config_.pyramid == KvPyramid::Entropy && !budgets_rebalanced_ &&
      L.heads[0].used == slot_capacity(L)) {
    rebalance_budgets();
  }
  const int32_t cap = slot_capacity(L), d = shape_.head_dim;
  for (int32_t g = 0; g < shape_.n_head_kv; ++g) {
    Head& H = L.heads[size_t(g)];
    int32_t slot = H.used;
    if (H.used < cap) {
      ++H.used;
    } else if (evict_ && cap > 0) {
      slot = lightest_slot(L, H, cap);
      ++L.evicted;
      if (eviction_weight(L, score[g], pos) <= eviction_weight(L, H.score[size_t(slot)], H.pos[size_t(slot)])) {
        continue;  // the newcomer is the lightest
      }
    } else {
      ++L.evicted;  // sliding window (or a budget with no room beyond sinks and window)
      continue;
    }
    store_in_slot(L, g, slot, k + int64_t(g) * d, v + int64_t(g) * d);
    if (evict_) {
      H.pos[size_t(slot)] = pos;
      H.score[size_t(slot)] = score[g];
    }
  }
}

}  // namespace kvlite
