// The KV cache: keys (already rotated) and values of every past position, per
// layer, and attention over them. Attention lives here because the cache's
// storage format decides how keys and values are read.
#pragma once

#include <cstdint>
#include <vector>

namespace kvlite {

struct KvShape {
  int32_t n_layer = 0, n_ctx = 0, n_head_kv = 0, head_dim = 0;
  int32_t kv_dim() const { return n_head_kv * head_dim; }
};

class KvCache {
 public:
  explicit KvCache(const KvShape& shape);

  // Stores one position's keys and values (kv_dim floats each) for a layer.
  void store(int32_t layer, int32_t pos, const float* k, const float* v);
  // Multi-head attention of one query (n_head * head_dim floats) over
  // positions [0, n_pos): out gets n_head * head_dim floats. Query heads are
  // grouped onto KV heads (n_head / n_head_kv per group). `scores` is scratch
  // of at least n_pos floats.
  void attend(int32_t layer, const float* q, int32_t n_head, int32_t n_pos, float* out, float* scores) const;

  void clear();
  const KvShape& shape() const { return shape_; }
  // Bytes held by keys and values.
  uint64_t bytes() const;

 private:
  const float* key(int32_t layer, int32_t pos) const;
  const float* value(int32_t layer, int32_t pos) const;

  KvShape shape_;
  std::vector<float> k_, v_;  // [layer][pos][kv_dim]
};

}  // namespace kvlite
