#include "kv/kv_cache.h"

#include <cmath>

#include "kernels/ops.h"

namespace kvlite {

KvCache::KvCache(const KvShape& shape) : shape_(shape) {
  const size_t n = size_t(shape.n_layer) * size_t(shape.n_ctx) * size_t(shape.kv_dim());
  k_.assign(n, 0.0f);
  v_.assign(n, 0.0f);
}

const float* KvCache::key(int32_t layer, int32_t pos) const {
  return k_.data() + (size_t(layer) * size_t(shape_.n_ctx) + size_t(pos)) * size_t(shape_.kv_dim());
}

const float* KvCache::value(int32_t layer, int32_t pos) const {
  return v_.data() + (size_t(layer) * size_t(shape_.n_ctx) + size_t(pos)) * size_t(shape_.kv_dim());
}

void KvCache::store(int32_t layer, int32_t pos, const float* k, const float* v) {
  const size_t off = (size_t(layer) * size_t(shape_.n_ctx) + size_t(pos)) * size_t(shape_.kv_dim());
  for (int32_t i = 0; i < shape_.kv_dim(); ++i) {
    k_[off + size_t(i)] = k[i];
    v_[off + size_t(i)] = v[i];
  }
}

void KvCache::attend(int32_t layer, const float* q, int32_t n_head, int32_t n_pos, float* out, float* scores) const {
  const int32_t d = shape_.head_dim;
  const int32_t group = n_head / shape_.n_head_kv;
  const float scale = 1.0f / std::sqrt(float(d));
  for (int32_t h = 0; h < n_head; ++h) {
    const int32_t kvh = h / group;
    const float* qh = q + int64_t(h) * d;
    for (int32_t p = 0; p < n_pos; ++p) scores[p] = dot_f32(qh, key(layer, p) + int64_t(kvh) * d, d) * scale;
    softmax(scores, n_pos);
    float* oh = out + int64_t(h) * d;
    for (int32_t i = 0; i < d; ++i) oh[i] = 0.0f;
    for (int32_t p = 0; p < n_pos; ++p) axpy(oh, scores[p], value(layer, p) + int64_t(kvh) * d, d);
  }
}

void KvCache::clear() {}  // positions are overwritten before they are read again

uint64_t KvCache::bytes() const { return uint64_t(k_.size() + v_.size()) * sizeof(float); }

}  // namespace kvlite
