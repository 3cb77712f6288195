// Memory accounting and attention statistics. Bytes are counted from the
// buffers themselves (every scale, position and score included), so what is
// reported is what is held.
#include <algorithm>

#include "kv/kv_cache.h"

namespace kvlite {

namespace {

template <typename T>
uint64_t held(const std::vector<T>& v) {
  return uint64_t(v.capacity()) * sizeof(T);
}

}  // namespace

uint64_t KvCache::layer_bytes(const Layer& L) const {
  uint64_t b = held(L.k) + held(L.v) + held(L.score) + held(L.k_channel) + held(L.v_channel);
  for (const Head& h : L.heads) b += held(h.k) + held(h.v) + held(h.pos) + held(h.score);
  return b;
}

uint64_t KvCache::bytes() const {
  uint64_t b = 0;
  for (const Layer& L : layers_) b += layer_bytes(L);
  return b;
}

KvLayerStats KvCache::layer_stats(const Layer& L) const {
  KvLayerStats s;
  const uint64_t kvd = uint64_t(shape_.kv_dim()), nkv = uint64_t(shape_.n_head_kv), d = uint64_t(shape_.head_dim);
  const int32_t fp_tokens = int32_t(std::min<int64_t>(fp_slots(), L.seen));
  s.compressed_tokens = L.heads.empty() ? 0 : L.heads[0].used;
  s.tokens = fp_tokens + s.compressed_tokens;
  s.budget = evict_ ? L.budget : 0;
  s.evicted = L.evicted;
  s.bytes = layer_bytes(L);
  const uint64_t per_slot = k_bytes_ + v_bytes_ + (evict_ ? sizeof(int32_t) + sizeof(float) : 0);
  for (const Head& h : L.heads) s.compressed_bytes += uint64_t(h.used) * per_slot;
  s.compressed_bytes += held(L.k_channel) + held(L.v_channel);
  for (const Head& h : L.heads) s.compressed_f32_bytes += uint64_t(h.used) * 2 * d * sizeof(float);
  s.used_bytes = uint64_t(fp_tokens) * (2 * kvd * sizeof(float) + (evict_ ? nkv * sizeof(float) : 0)) + s.compressed_bytes;
  s.f32_bytes = uint64_t(L.seen) * 2 * kvd * sizeof(float);
  s.f16_bytes = s.f32_bytes / 2;
  if (L.stat_count > 0) {
    s.entropy_bits = L.entropy_sum / double(L.stat_count);
    s.recent_share = L.recent_sum / double(L.stat_count);
  }
  return s;
}

KvStats KvCache::stats() const {
  KvStats st;
  st.k_type = std::string(kf_->name);
  st.v_type = std::string(vf_->name);
  st.window = plain_ ? 0 : window_;
  st.sinks = sinks_;
  st.tokens_seen = layers_.empty() ? 0 : layers_[0].seen;
  for (const Layer& L : layers_) {
    st.layers.push_back(layer_stats(L));
    const KvLayerStats& s = st.layers.back();
    st.bytes += s.bytes;
    st.used_bytes += s.used_bytes;
    st.f32_bytes += s.f32_bytes;
    st.f16_bytes += s.f16_bytes;
  }
  return st;
}

}  // namespace kvlite
