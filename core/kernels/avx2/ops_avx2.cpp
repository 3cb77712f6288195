// The row kernels of ops.h and the F32/F16/BF16 weight rows in AVX2+FMA; the
// scalar twins are in ops_scalar.cpp and types_float.cpp.
#if defined(__x86_64__)
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/avx2_util.h"
#include "kernels/ops.h"
#include "util/fp16.h"

namespace kvlite::avx2 {

KVLITE_AVX2 float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  float sum = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

KVLITE_AVX2 void axpy(float* y, float a, const float* x, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] += a * x[i];
}

KVLITE_AVX2 void add(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

KVLITE_AVX2 void scale(float* y, float a, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), va));
  for (; i < n; ++i) y[i] *= a;
}

// Squares are summed in double lanes, as the scalar twin sums them in a double.
KVLITE_AVX2 void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    const __m256 sq = _mm256_mul_ps(v, v);
    s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
    s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
  }
  alignas(32) double parts[4];
  _mm256_store_pd(parts, _mm256_add_pd(s0, s1));
  double sum = (parts[0] + parts[1]) + (parts[2] + parts[3]);
  for (; i < n; ++i) sum += double(x[i] * x[i]);
  const float inv = float(1.0 / std::sqrt(sum / double(n) + eps));
  const __m256 vs = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(weight + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

KVLITE_AVX2 void softmax(float* x, int64_t n) {
  float max = x[0];
  int64_t i = 0;
  __m256 vmax = _mm256_set1_ps(max);
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(_mm256_loadu_ps(x + i), vmax);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, vmax);
  for (float v : lanes) max = v > max ? v : max;
  for (; i < n; ++i) max = x[i] > max ? x[i] : max;
  const __m256 vm = _mm256_set1_ps(max);
  __m256 vsum = _mm256_setzero_ps();
  for (i = 0; i + 8 <= n; i += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  double sum = hsum(vsum);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  scale(x, float(1.0 / sum), n);
}

KVLITE_AVX2 void swiglu(float* gate, const float* up, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 silu = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_xor_ps(g, sign))));
    _mm256_storeu_ps(gate + i, _mm256_mul_ps(silu, _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// ---- Float weight rows (F32 activations) -----------------------------------

// F16C converts halves exactly, as the scalar twin does.
KVLITE_AVX2 void fp16_to_f32_row(const void* halves, float* out, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(halves);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * i))));
  }
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = fp16_to_f32(h);
  }
}

// Eight codes at a time: their 4 bytes spread to 8 lanes, each shifted to its
// nibble; two 8-entry permutes and bit 3 of the code choose the table entry.
KVLITE_AVX2 void lut16_decode(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n) {
  const __m256 lo_table = _mm256_loadu_ps(table), hi_table = _mm256_loadu_ps(table + 8);
  const __m256i shifts = _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4);
  const __m256i nibble = _mm256_set1_epi32(15);
  for (int64_t j = 0; j < n; j += 8) {
    uint32_t four;
    std::memcpy(&four, codes + j / 2, 4);
    const __m256i bytes = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(_mm_cvtsi32_si128(int32_t(four)),
                                                                 _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0)));
    const __m256i idx = _mm256_and_si256(_mm256_srlv_epi32(bytes, shifts), nibble);
    const __m256 lo = _mm256_permutevar8x32_ps(lo_table, idx), hi = _mm256_permutevar8x32_ps(hi_table, idx);
    const __m256 v = _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
    _mm256_storeu_ps(out + j, _mm256_mul_ps(v, _mm256_set1_ps(scales[j / 16])));
  }
}

// q4_scores / q4_accumulate (ops.h) for d a multiple of 32: 32 code bytes
// hold 64 values, their low nibbles the even ones and high nibbles the odd
// ones, and byte j belongs to block j / 8 in both, so the levels come from one
// byte shuffle per nibble half and the queries are split into even and odd
// halves once per call to meet them; a last 32 values take the same steps in
// 128 bits. Other head dims take the scalar twin.
KVLITE_AVX2 void q4_scores(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out,
                           int64_t out_stride) {
  const int32_t d = k.d;
  if (d % 32 != 0 || d > kQ4MaxDim) {
    scalar::q4_scores(k, q, q_scale, n_q, out, out_stride);
    return;
  }
  const int32_t nb = d / 16, nc = d / 64, tail = nc * 64;  // values from `tail` on: one 32-value chunk
  const __m128i table128 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k.levels));
  const __m256i table = _mm256_broadcastsi128_si256(table128);
  const __m256i low4 = _mm256_set1_epi8(15), ones = _mm256_set1_epi16(1);
  const __m256i pairs = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
  alignas(32) int8_t split[kQ4Heads][kQ4MaxDim];
  for (int32_t h0 = 0; h0 < n_q; h0 += kQ4Heads) {
    const int32_t nh = std::min(kQ4Heads, n_q - h0);
    for (int32_t h = 0; h < nh; ++h) {
      const int8_t* qh = q + int64_t(h0 + h) * d;
      split_even_odd(qh, tail, 64, split[h]);
      split_even_odd(qh + tail, d - tail, 32, split[h] + tail);
    }
    for (int64_t r = 0; r < k.n; ++r) {
      const uint8_t* row = k.data + size_t(r) * k.row_bytes;
      const uint8_t* codes = row + nb;
      __m256 acc[kQ4Heads];
      for (int32_t h = 0; h < nh; ++h) acc[h] = _mm256_setzero_ps();
      for (int32_t c = 0; c < nc; ++c) {
        const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * c));
        const __m256i klo = _mm256_shuffle_epi8(table, _mm256_and_si256(bytes, low4));
        const __m256i khi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4));
        const __m256i alo = _mm256_abs_epi8(klo), ahi = _mm256_abs_epi8(khi);
        const __m128 s4 = _mm_setr_ps(k.scales[row[4 * c]], k.scales[row[4 * c + 1]], k.scales[row[4 * c + 2]],
                                      k.scales[row[4 * c + 3]]);
        const __m256 s = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(s4), pairs);
        for (int32_t h = 0; h < nh; ++h) {
          const __m256i qlo = _mm256_load_si256(reinterpret_cast<const __m256i*>(&split[h][c * 64]));
          const __m256i qhi = _mm256_load_si256(reinterpret_cast<const __m256i*>(&split[h][c * 64 + 32]));
          const __m256i plo = _mm256_madd_epi16(_mm256_maddubs_epi16(alo, _mm256_sign_epi8(qlo, klo)), ones);
          const __m256i phi = _mm256_madd_epi16(_mm256_maddubs_epi16(ahi, _mm256_sign_epi8(qhi, khi)), ones);
          acc[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(plo, phi)), s, acc[h]);
        }
      }
      if (tail < d) {
        const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + tail / 2));
        const __m128i klo = _mm_shuffle_epi8(table128, _mm_and_si128(bytes, _mm256_castsi256_si128(low4)));
        const __m128i khi = _mm_shuffle_epi8(
            table128, _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm256_castsi256_si128(low4)));
        const __m128i alo = _mm_abs_epi8(klo), ahi = _mm_abs_epi8(khi);
        const float s0 = k.scales[row[tail / 16]], s1 = k.scales[row[tail / 16 + 1]];
        const __m128 s = _mm_setr_ps(s0, s0, s1, s1);
        const __m128i ones128 = _mm256_castsi256_si128(ones);
        for (int32_t h = 0; h < nh; ++h) {
          const __m128i qlo = _mm_load_si128(reinterpret_cast<const __m128i*>(&split[h][tail]));
          const __m128i qhi = _mm_load_si128(reinterpret_cast<const __m128i*>(&split[h][tail + 16]));
          const __m128i plo = _mm_madd_epi16(_mm_maddubs_epi16(alo, _mm_sign_epi8(qlo, klo)), ones128);
          const __m128i phi = _mm_madd_epi16(_mm_maddubs_epi16(ahi, _mm_sign_epi8(qhi, khi)), ones128);
          const __m128 part = _mm_mul_ps(_mm_cvtepi32_ps(_mm_add_epi32(plo, phi)), s);
          acc[h] = _mm256_add_ps(acc[h], _mm256_insertf128_ps(_mm256_setzero_ps(), part, 0));
        }
      }
      for (int32_t h = 0; h < nh; ++h) out[int64_t(h0 + h) * out_stride + r] = q_scale[h0 + h] * hsum(acc[h]);
    }
  }
}

KVLITE_AVX2 void q4_accumulate(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc) {
  const int32_t d = v.d;
  if (d % 32 != 0) {
    scalar::q4_accumulate(v, w, w_stride, n_q, acc);
    return;
  }
  const int32_t nb = d / 16, nc = d / 64, tail = nc * 64;
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v.levels)));
  const __m256i low4 = _mm256_set1_epi8(15);
  for (int64_t r = 0; r < v.n; ++r) {
    const uint8_t* row = v.data + size_t(r) * v.row_bytes;
    const uint8_t* codes = row + nb;
    for (int32_t c = 0; c < nc; ++c) {
      const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + 32 * c));
      const __m256i klo = _mm256_shuffle_epi8(table, _mm256_and_si256(bytes, low4));
      const __m256i khi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4));
      // Back in value order: u0 holds values 0-15 | 32-47, u1 16-31 | 48-63.
      const __m256i u0 = _mm256_unpacklo_epi8(klo, khi), u1 = _mm256_unpackhi_epi8(klo, khi);
      const __m128i part[4] = {_mm256_castsi256_si128(u0), _mm256_castsi256_si128(u1), _mm256_extracti128_si256(u0, 1),
                               _mm256_extracti128_si256(u1, 1)};
      __m256 f[8];
      for (int32_t b = 0; b < 4; ++b) {
        f[2 * b] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[b]));
        f[2 * b + 1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(part[b], 8)));
      }
      for (int32_t h = 0; h < n_q; ++h) {
        float* a = acc + int64_t(h) * d + 64 * c;
        const float wr = w[int64_t(h) * w_stride + r];
        for (int32_t b = 0; b < 4; ++b) {
          const __m256 wb = _mm256_set1_ps(wr * v.scales[row[4 * c + b]]);
          _mm256_storeu_ps(a + 16 * b, _mm256_fmadd_ps(f[2 * b], wb, _mm256_loadu_ps(a + 16 * b)));
          _mm256_storeu_ps(a + 16 * b + 8, _mm256_fmadd_ps(f[2 * b + 1], wb, _mm256_loadu_ps(a + 16 * b + 8)));
        }
      }
    }
    if (tail < d) {
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + tail / 2));
      const __m128i table128 = _mm256_castsi256_si128(table), low4_128 = _mm256_castsi256_si128(low4);
      const __m128i klo = _mm_shuffle_epi8(table128, _mm_and_si128(bytes, low4_128));
      const __m128i khi = _mm_shuffle_epi8(table128, _mm_and_si128(_mm_srli_epi16(bytes, 4), low4_128));
      const __m128i part[2] = {_mm_unpacklo_epi8(klo, khi), _mm_unpackhi_epi8(klo, khi)};  // values 0-15, 16-31
      __m256 f[4];
      for (int32_t b = 0; b < 2; ++b) {
        f[2 * b] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[b]));
        f[2 * b + 1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(part[b], 8)));
      }
      for (int32_t h = 0; h < n_q; ++h) {
        float* a = acc + int64_t(h) * d + tail;
        const float wr = w[int64_t(h) * w_stride + r];
        for (int32_t b = 0; b < 2; ++b) {
          const __m256 wb = _mm256_set1_ps(wr * v.scales[row[tail / 16 + b]]);
          _mm256_storeu_ps(a + 16 * b, _mm256_fmadd_ps(f[2 * b], wb, _mm256_loadu_ps(a + 16 * b)));
          _mm256_storeu_ps(a + 16 * b + 8, _mm256_fmadd_ps(f[2 * b + 1], wb, _mm256_loadu_ps(a + 16 * b + 8)));
        }
      }
    }
  }
}

KVLITE_AVX2 float vec_dot_f32(int64_t n, const void* weights, const void* activations) {
  return dot_f32(static_cast<const float*>(weights), static_cast<const float*>(activations), n);
}

KVLITE_AVX2 float vec_dot_f16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const float*>(activations);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8)));
    s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(a + i), s0);
    s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(a + i + 8), s1);
  }
  float sum = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) sum += fp16_to_f32(w[i]) * a[i];
  return sum;
}

KVLITE_AVX2 float vec_dot_bf16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const float*>(activations);
  __m256 s0 = _mm256_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h0 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i)));
    const __m256i h1 = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w + i + 8)));
    s0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(h0, 16)), _mm256_loadu_ps(a + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_slli_epi32(h1, 16)), _mm256_loadu_ps(a + i + 8), s1);
  }
  float sum = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) sum += bf16_to_f32(w[i]) * a[i];
  return sum;
}

}  // namespace kvlite::avx2

#endif  // __x86_64__
