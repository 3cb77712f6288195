// Attention over the cache, reading compressed keys and values in place:
// each slot's vector is decoded into a stack buffer of head_dim floats, used
// by every query head of its group, and dropped (never a full FP32 copy).
#include <algorithm>
#include <cmath>

#include "kernels/kernel_set.h"
#include "kernels/ops.h"
#include "kv/kv_cache.h"
#include "util/thread_pool.h"

namespace kvlite {

namespace {

constexpr int32_t kRecentTokens = 128;  // "recent share" looks at this many newest positions

// Runs fn(task) for every task, on the pool's threads when there is a pool.
template <class Fn>
void run_tasks(ThreadPool* pool, int64_t n_tasks, Fn&& fn) {
  if (pool && n_tasks > 1) pool->run(n_tasks, [&](int64_t task, int32_t) { fn(task); });
  else for (int64_t task = 0; task < n_tasks; ++task) fn(task);
}

// Puts a query into the compressed keys' domain: dot(q, T^-1 y) = dot(T' q, y).
void query_to_slot_domain(KvTransform t, const float* q, const float* channel, int32_t d, float* out) {
  for (int32_t i = 0; i < d; ++i) out[i] = channel && t == KvTransform::ChannelScale ? q[i] * channel[i] : q[i];
  if (t == KvTransform::Hadamard) hadamard_rotate(out, d);
}

// Brings a weighted sum of compressed values back: sum p T^-1 y = T^-1 sum p y.
void values_from_slot_domain(KvTransform t, float* acc, const float* channel, int32_t d) {
  if (t == KvTransform::Hadamard) hadamard_rotate(acc, d);
  if (t == KvTransform::ChannelScale && channel) {
    for (int32_t i = 0; i < d; ++i) acc[i] *= channel[i];
  }
}

// The oldest position a query at n_pos - 1 may see.
int32_t first_visible(int32_t n_pos, const AttendOptions& options) {
  return options.window > 0 ? std::max(0, n_pos - options.window) : 0;
}

void soft_cap(float* scores, int32_t n, float cap) {
  for (int32_t i = 0; i < n; ++i) scores[i] = cap * std::tanh(scores[i] / cap);
}

}  // namespace

void KvCache::attend(int32_t layer, const float* q, int32_t n_head, int32_t n_pos, float* out, float* scores,
                     const AttendOptions& options, ThreadPool* pool) {
  Layer& L = layers_[size_t(layer)];
  const int32_t group = n_head / shape_.n_head_kv, d = shape_.head_dim, nkv = shape_.n_head_kv;
  const int32_t first = first_visible(n_pos, options);
  if (plain_ && !config_.attention_stats && options.softcap == 0.0f) {
    // The plain cache holds position p in slot p: the row kernel reads it
    // directly, and nothing in the cache changes, so heads may run in parallel.
    const float scale = 1.0f / std::sqrt(float(d));
    const int64_t from = int64_t(first) * shape_.kv_dim();
    run_tasks(pool, n_head, [&](int64_t h) {
      const int64_t kv_off = from + int64_t(h / group) * d;
      kvlite::attend_head(q + h * d, L.k.data() + kv_off, L.v.data() + kv_off, shape_.kv_dim(), n_pos - first, d,
                          scale, scores + h * max_tokens_, out + h * d);
    });
    return;
  }
  // The FP32 slots holding positions first .. n_pos - 1, in slot order (for
  // the plain cache that is position order, so sums match the reference exactly).
  fp_list_.clear();
  fp_pos_.clear();
  const int32_t n_fp = int32_t(std::min<int64_t>(fp_slots(), L.seen));
  for (int32_t slot = 0; slot < n_fp; ++slot) {
    const int32_t p = pos_in_fp_slot(slot, L.seen);
    if (p >= first && p < n_pos) fp_list_.push_back(slot), fp_pos_.push_back(p);
  }
  // Each KV head writes only its own scores, outputs, slots' H2O scores and
  // scratch slices; statistics are summed in head order afterwards.
  qc_.resize(size_t(n_head) * size_t(d));
  q8_.resize(size_t(n_head) * size_t(d));
  q8_scale_.resize(size_t(n_head));
  acc_.resize(size_t(n_head) * size_t(d));
  group_entropy_.assign(size_t(nkv), 0.0);
  group_recent_.assign(size_t(nkv), 0.0);
  run_tasks(pool, nkv, [&](int64_t g) {
    attend_group(L, int32_t(g), q + g * group * d, group, n_pos, out + g * group * d, scores + g * group * max_tokens_,
                 options);
  });
  if (config_.attention_stats) {
    for (int32_t g = 0; g < nkv; ++g) {
      L.entropy_sum += group_entropy_[size_t(g)];
      L.recent_sum += group_recent_[size_t(g)];
    }
    L.stat_count += n_head;
  }
}

// One KV head and the `group` query heads that share it.
void KvCache::attend_group(Layer& L, int32_t g, const float* q, int32_t group, int32_t n_pos, float* out,
                          float* scores, const AttendOptions& options) {
  const int32_t d = shape_.head_dim, kvd = shape_.kv_dim(), nkv = shape_.n_head_kv;
  const int32_t n_fp = int32_t(fp_list_.size());
  Head& H = L.heads[size_t(g)];
  const int32_t n = n_fp + H.used;
  const float scale = 1.0f / std::sqrt(float(d));
  const float* kc = L.k_channel.empty() ? nullptr : L.k_channel.data() + int64_t(g) * d;
  const float* vc = L.v_channel.empty() ? nullptr : L.v_channel.data() + int64_t(g) * d;
  float buf[kKvMaxHeadDim];
  // The per-slot loops call the kernels straight from the set (one look-up).
  const KernelSet& ks = active_kernels();

  for (int32_t h = 0; h < group; ++h) {
    float* s = scores + int64_t(h) * max_tokens_;
    for (int32_t e = 0; e < n_fp; ++e) s[e] = ks.dot_f32(q + int64_t(h) * d, &L.k[size_t(fp_list_[size_t(e)] * kvd + g * d)], d) * scale;
  }
  float* qc = qc_.data() + int64_t(g) * group * d;
  if (H.used > 0) {
    for (int32_t h = 0; h < group; ++h) query_to_slot_domain(kt_, q + int64_t(h) * d, kc, d, qc + h * d);
    if (kq4_) {
      // 4-bit keys are scored on their codes: each query as int8 with one
      // scale (as llama.cpp meets a quantized cache), the sums in integers.
      int8_t* q8 = q8_.data() + int64_t(g) * group * d;
      float* q8_scale = q8_scale_.data() + int64_t(g) * group;
      for (int32_t h = 0; h < group; ++h) {
        float amax = 0.0f;
        for (int32_t i = 0; i < d; ++i) amax = std::max(amax, std::fabs(qc[h * d + i]));
        const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        for (int32_t i = 0; i < d; ++i) q8[h * d + i] = int8_t(std::lrint(qc[h * d + i] * inv));
        q8_scale[h] = amax / 127.0f * kq4_->step * scale;
      }
      const Q4Rows rows{H.k.data(), k_bytes_, H.used, d, kq4_->levels, kq4_->byte_scales};
      ks.q4_scores(rows, q8, q8_scale, group, scores + n_fp, max_tokens_);
    } else {
      for (int32_t i = 0; i < H.used; ++i) {
        kf_->decode(H.k.data() + size_t(i) * k_bytes_, d, buf);
        for (int32_t h = 0; h < group; ++h) scores[int64_t(h) * max_tokens_ + n_fp + i] = ks.dot_f32(qc + h * d, buf, d) * scale;
      }
    }
  }
  const int32_t first = first_visible(n_pos, options);
  for (int32_t h = 0; h < group; ++h) {
    float* s = scores + int64_t(h) * max_tokens_;
    if (options.softcap > 0.0f) soft_cap(s, n, options.softcap);
    // Compressed tokens older than a sliding-window layer's span get no weight.
    for (int32_t i = 0; i < H.used; ++i) {
      if (slot_pos(H, i) < first) s[n_fp + i] = -INFINITY;
    }
    softmax(s, n);
  }
  if (config_.attention_stats) record_stats(H, scores, group, n_pos, g);
  if (evict_) {
    for (int32_t h = 0; h < group; ++h) {
      const float* s = scores + int64_t(h) * max_tokens_;
      for (int32_t e = 0; e < n_fp; ++e) L.score[size_t(fp_list_[size_t(e)] * nkv + g)] += s[e];
      for (int32_t i = 0; i < H.used; ++i) H.score[size_t(i)] += s[n_fp + i];
    }
  }

  for (int32_t h = 0; h < group; ++h) {
    float* o = out + int64_t(h) * d;
    const float* s = scores + int64_t(h) * max_tokens_;
    for (int32_t i = 0; i < d; ++i) o[i] = 0.0f;
    for (int32_t e = 0; e < n_fp; ++e) ks.axpy(o, s[e], &L.v[size_t(fp_list_[size_t(e)] * kvd + g * d)], d);
  }
  if (H.used == 0) return;
  float* acc = acc_.data() + int64_t(g) * group * d;
  std::fill(acc, acc + int64_t(group) * d, 0.0f);
  if (vq4_) {
    const Q4Rows rows{H.v.data(), v_bytes_, H.used, d, vq4_->levels, vq4_->byte_scales};
    ks.q4_accumulate(rows, scores + n_fp, max_tokens_, group, acc);
    ks.scale(acc, vq4_->step, int64_t(group) * d);
  } else {
    for (int32_t i = 0; i < H.used; ++i) {
      vf_->decode(H.v.data() + size_t(i) * v_bytes_, d, buf);
      for (int32_t h = 0; h < group; ++h) ks.axpy(acc + h * d, scores[int64_t(h) * max_tokens_ + n_fp + i], buf, d);
    }
  }
  for (int32_t h = 0; h < group; ++h) {
    values_from_slot_domain(vt_, acc + h * d, vc, d);
    add(out + int64_t(h) * d, acc + h * d, d);
  }
}

// Entropy (bits) of each head's weights and their share on the newest
// kRecentTokens positions, summed per KV head (attend adds them to the layer).
void KvCache::record_stats(const Head& H, const float* scores, int32_t group, int32_t n_pos, int32_t g) {
  const int32_t n_fp = int32_t(fp_list_.size());
  const int64_t recent_from = int64_t(n_pos) - kRecentTokens;
  for (int32_t h = 0; h < group; ++h) {
    const float* s = scores + int64_t(h) * max_tokens_;
    double entropy = 0, recent = 0;
    for (int32_t e = 0; e < n_fp + H.used; ++e) {
      const double p = s[e];
      if (p > 0) entropy -= p * std::log2(p);
      const int64_t pos = e < n_fp ? fp_pos_[size_t(e)] : slot_pos(H, e - n_fp);
      if (pos >= recent_from) recent += p;
    }
    group_entropy_[size_t(g)] += entropy;
    group_recent_[size_t(g)] += recent;
  }
}

}  // namespace kvlite
