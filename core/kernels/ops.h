// Elementwise and row kernels of the forward pass. They know nothing of models:
// plain arrays in, plain arrays out. Each call goes to the active KernelSet
// (kernel_set.h); the scalar twins are in namespace scalar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kvlite {

// out = x / rms(x) * weight
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);
// In place: x = exp(x - max) / sum.
void softmax(float* x, int64_t n);
// In place: gate = silu(gate) * up.
void swiglu(float* gate, const float* up, int64_t n);
// In place: gate = gelu(gate) * up, GELU in its tanh form (gemma's FFN).
void geglu(float* gate, const float* up, int64_t n);
// y += x
void add(float* y, const float* x, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
// y += a * x
void axpy(float* y, float a, const float* x, int64_t n);
// y *= a
void scale(float* y, float a, int64_t n);
// n IEEE halves (any alignment) to floats, exactly: subnormals, infinities and NaN included.
void fp16_to_f32_row(const void* halves, float* out, int64_t n);
// 4-bit codes through a 16-entry table, one scale per 16 values:
// out[j] = table[code j] * scales[j / 16], code j the low (j even) or high
// nibble of codes[j / 2]; n a multiple of 16. The 4-bit KV formats' decode.
void lut16_decode(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n);

// Attention of one query head over n_pos keys and values stored `stride`
// floats apart: scores = softmax(scale * q.k), out = sum of scores * v.
// `scores` is scratch of n_pos floats.
// Rows of 4-bit codes with integer levels, as the 4-bit KV formats store a
// head vector: d / 16 scale bytes, then d / 2 bytes of codes, low nibble
// first. Value j of a row is levels[code j] * scales[scale byte j / 16] (times
// the format's level step, which callers fold in). d a multiple of 16.
struct Q4Rows {
  const uint8_t* data;
  size_t row_bytes;  // from one row to the next
  int64_t n;         // rows
  int32_t d;         // values per row
  const int8_t* levels;  // 16 levels, |level| <= 127
  const float* scales;   // 256 scales, indexed by a scale byte
};
// Scores of n_q int8 queries (d values each, q_scale[h] their scale) against
// every row, in the integer domain: out[h * out_stride + r] =
// q_scale[h] * sum over blocks b of scales[row r's byte b] * (integer sum over
// the block of q[h * d + j] * levels[code j]).
void q4_scores(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out, int64_t out_stride);
// The SIMD q4_scores kernels hold up to kQ4Heads split queries of up to
// kQ4MaxDim values at once (kKvMaxHeadDim); longer rows take the scalar twin.
constexpr int32_t kQ4Heads = 8;
constexpr int32_t kQ4MaxDim = 512;
// How the SIMD q4_scores kernels meet a row's nibbles (low: even values, high:
// odd ones): each chunk of `chunk` query values becomes its even values, then
// its odd ones. n a multiple of chunk.
template <class T>
inline void split_even_odd(const int8_t* q, int32_t n, int32_t chunk, T* out) {
  for (int32_t c = 0; c < n; c += chunk) {
    for (int32_t j = 0; j < chunk / 2; ++j) {
      out[c + j] = T(q[c + 2 * j]);
      out[c + chunk / 2 + j] = T(q[c + 2 * j + 1]);
    }
  }
}
// Weighted sums of the rows' values: acc[h * d + j] += sum over rows r of
// w[h * w_stride + r] * scales[row r's byte j / 16] * levels[code j].
void q4_accumulate(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc);
void attend_head(const float* q, const float* keys, const float* values, int64_t stride, int32_t n_pos,
                 int32_t head_dim, float scale, float* scores, float* out);

// The reference implementations the SIMD sets are tested against.
namespace scalar {
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);
void softmax(float* x, int64_t n);
void swiglu(float* gate, const float* up, int64_t n);
void geglu(float* gate, const float* up, int64_t n);
void add(float* y, const float* x, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
void axpy(float* y, float a, const float* x, int64_t n);
void scale(float* y, float a, int64_t n);
void fp16_to_f32_row(const void* halves, float* out, int64_t n);
void lut16_decode(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n);
void q4_scores(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out, int64_t out_stride);
void q4_accumulate(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc);
}  // namespace scalar

// How a rotary embedding pairs the dimensions of a head.
enum class RopeStyle {
  Adjacent,  // (0,1), (2,3), ...: llama / GGUF's permuted q and k
  NeoX,      // (i, i + d/2): qwen2, gemma, phi3
};

// Precomputed inverse frequencies for one head size.
struct RopeTable {
  int32_t head_dim = 0;
  RopeStyle style = RopeStyle::Adjacent;
  float inv_freq[512] = {};  // freq_scale * theta^(-2i/d) / factors[i] for i < head_dim / 2
};
// freq_scale: linear RoPE scaling (1: none); factors: head_dim / 2
// per-frequency divisors (llama3 scaling, a rope_freqs tensor), or empty.
RopeTable make_rope_table(int32_t head_dim, float theta, RopeStyle style, float freq_scale = 1.0f,
                          const std::vector<float>& factors = {});
// Rotates n_heads consecutive heads of x for position pos.
void rope(float* x, int32_t n_heads, const RopeTable& table, int32_t pos);
// The rotation itself, with the angles' cosines and sines given (head_dim / 2
// of each): pair (a, b) of every head becomes (a c - b s, a s + b c).
void rope_rotate(float* x, int32_t n_heads, int32_t head_dim, RopeStyle style, const float* cos, const float* sin);
namespace scalar {
void rope_rotate(float* x, int32_t n_heads, int32_t head_dim, RopeStyle style, const float* cos, const float* sin);
}  // namespace scalar

}  // namespace kvlite
