// Encoding a token into its compressed slots: the format's transform
// (Hadamard rotation or per-channel divisors), then the codec.
#include <cmath>

#include "kv/kv_budget.h"
#include "kv/kv_cache.h"

namespace kvlite {

namespace {

void transform_and_encode(const KvFormatTraits& f, KvTransform t, const float* x, const float* channel, int32_t d,
                          uint8_t* dst) {
  float buf[kKvMaxHeadDim];
  for (int32_t i = 0; i < d; ++i) buf[i] = x[i];
  if (t == KvTransform::Hadamard) hadamard_rotate(buf, d);
  if (t == KvTransform::ChannelScale) {
    for (int32_t i = 0; i < d; ++i) buf[i] /= channel[i];
  }
  f.encode(buf, d, dst);
}

// RMS of each channel of each head over n tokens of kv_dim floats. RoPE
// turns each channel pair by a position-dependent angle, so one channel's
// RMS over the window says little about later positions, while the pair's
// joint RMS is the same at every position: both channels of a pair get it
// (measured: a 50x lower KL than per-channel RMS at context 1024). A silent
// channel gets 1 so dividing by it is harmless.
void channel_rms(const float* rows, int32_t n, const KvShape& shape, std::vector<float>& out) {
  const int32_t kv_dim = shape.kv_dim(), d = shape.head_dim;
  std::vector<float> sq(size_t(kv_dim), 0.0f);
  for (int32_t t = 0; t < n; ++t) {
    for (int32_t i = 0; i < kv_dim; ++i) sq[size_t(i)] += rows[int64_t(t) * kv_dim + i] * rows[int64_t(t) * kv_dim + i];
  }
  out.assign(size_t(kv_dim), 1.0f);
  for (int32_t i = 0; i < kv_dim; ++i) {
    const int32_t c = i % d, head = i - c;
    const int32_t partner = head + (shape.rope_neox ? (c + d / 2) % d : (c ^ 1));
    const float s = 0.5f * (sq[size_t(i)] + sq[size_t(partner < head + d ? partner : i)]);
    if (s > 0.0f) out[size_t(i)] = std::sqrt(s / float(n));
  }
}

}  // namespace

void KvCache::store_in_slot(Layer& L, int32_t g, int32_t slot, const float* k, const float* v) {
  const int32_t d = shape_.head_dim;
  Head& H = L.heads[size_t(g)];
  const float* kc = L.k_channel.empty() ? nullptr : L.k_channel.data() + int64_t(g) * d;
  const float* vc = L.v_channel.empty() ? nullptr : L.v_channel.data() + int64_t(g) * d;
  transform_and_encode(*kf_, kt_, k, kc, d, H.k.data() + size_t(slot) * k_bytes_);
  transform_and_encode(*vf_, vt_, v, vc, d, H.v.data() + size_t(slot) * v_bytes_);
}

// Per-channel divisors come from the window the first time a token leaves
// it: those W tokens are the best sample of the layer's channels there is,
// and fixing the divisors then means every token is quantized exactly once.
// Sinks are left out (the first tokens are outliers by nature).
void KvCache::calibrate_channels(Layer& L, const float* k, const float* v) {
  L.calibrated = true;
  const int32_t kvd = shape_.kv_dim();
  const bool window = window_ > 0;
  const float* kr = window ? L.k.data() + int64_t(sinks_) * kvd : k;
  const float* vr = window ? L.v.data() + int64_t(sinks_) * kvd : v;
  const int32_t n = window ? window_ : 1;
  if (kt_ == KvTransform::ChannelScale) channel_rms(kr, n, shape_, L.k_channel);
  if (vt_ == KvTransform::ChannelScale) channel_rms(vr, n, shape_, L.v_channel);
}

void KvCache::clear() {
  for (Layer& L : layers_) {
    L.seen = 0;
    L.evicted = 0;
    L.calibrated = false;
    L.k_channel.clear();
    L.v_channel.clear();
    L.entropy_sum = L.recent_sum = 0;
    L.stat_count = 0;
    for (Head& h : L.heads) h.used = 0;
  }
  if (budgets_rebalanced_) {
    budgets_rebalanced_ = false;
    const std::vector<int32_t> b = layer_budgets(shape_.n_layer, config_.budget, fp_slots(), config_.pyramid, nullptr);
    for (size_t l = 0; l < layers_.size(); ++l) {
      layers_[l].budget = b[l];
      resize_slots(layers_[l], slot_capacity(layers_[l]));
    }
  }
}

}  // namespace kvlite
