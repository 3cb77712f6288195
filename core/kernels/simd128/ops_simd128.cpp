// The row kernels of ops.h and the F32/F16/BF16 weight rows in WebAssembly
// SIMD128. Sums use several vector accumulators so consecutive adds do not
// wait on each other; the scalar twins are in ops_scalar.cpp and types_float.cpp.
#if defined(__wasm_simd128__)
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/simd128/simd128_kernels.h"
#include "kernels/simd128/simd128_util.h"
#include "util/fp16.h"

namespace kvlite::simd128 {

float dot_f32(const float* a, const float* b, int64_t n) {
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0, s2 = s0, s3 = s0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
    s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4)));
    s2 = wasm_f32x4_add(s2, wasm_f32x4_mul(wasm_v128_load(a + i + 8), wasm_v128_load(b + i + 8)));
    s3 = wasm_f32x4_add(s3, wasm_f32x4_mul(wasm_v128_load(a + i + 12), wasm_v128_load(b + i + 12)));
  }
  for (; i + 4 <= n; i += 4) s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  float sum = hsum(wasm_f32x4_add(wasm_f32x4_add(s0, s1), wasm_f32x4_add(s2, s3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy(float* y, float a, const float* x, int64_t n) {
  const v128_t va = wasm_f32x4_splat(a);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(y + i), wasm_f32x4_mul(va, wasm_v128_load(x + i))));
  }
  for (; i < n; ++i) y[i] += a * x[i];
}

void add(float* y, const float* x, int64_t n) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(y + i), wasm_v128_load(x + i)));
  for (; i < n; ++i) y[i] += x[i];
}

void scale(float* y, float a, int64_t n) {
  const v128_t va = wasm_f32x4_splat(a);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_mul(wasm_v128_load(y + i), va));
  for (; i < n; ++i) y[i] *= a;
}

// The sum of squares is kept in double lanes, as the scalar twin keeps it
// in a double: a long row of squares loses digits in float.
void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  v128_t s0 = wasm_f64x2_splat(0.0), s1 = s0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t sq = wasm_f32x4_mul(v, v);
    s0 = wasm_f64x2_add(s0, wasm_f64x2_promote_low_f32x4(sq));
    s1 = wasm_f64x2_add(s1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(sq, sq, 2, 3, 0, 1)));
  }
  const v128_t s = wasm_f64x2_add(s0, s1);
  double sum = wasm_f64x2_extract_lane(s, 0) + wasm_f64x2_extract_lane(s, 1);
  for (; i < n; ++i) sum += double(x[i] * x[i]);
  const float inv = float(1.0 / std::sqrt(sum / double(n) + eps));
  const v128_t vs = wasm_f32x4_splat(inv);
  for (i = 0; i + 4 <= n; i += 4) {
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(x + i), vs), wasm_v128_load(weight + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * inv * weight[i];
}

void softmax(float* x, int64_t n) {
  v128_t vmax = wasm_f32x4_splat(x[0]);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) vmax = wasm_f32x4_pmax(vmax, wasm_v128_load(x + i));
  const float m01 = std::fmax(wasm_f32x4_extract_lane(vmax, 0), wasm_f32x4_extract_lane(vmax, 1));
  const float m23 = std::fmax(wasm_f32x4_extract_lane(vmax, 2), wasm_f32x4_extract_lane(vmax, 3));
  float max = std::fmax(m01, m23);
  for (; i < n; ++i) max = x[i] > max ? x[i] : max;
  const v128_t vm = wasm_f32x4_splat(max);
  v128_t vsum = wasm_f32x4_splat(0.0f);
  for (i = 0; i + 4 <= n; i += 4) {
    const v128_t e = exp_f32x4(wasm_f32x4_sub(wasm_v128_load(x + i), vm));
    wasm_v128_store(x + i, e);
    vsum = wasm_f32x4_add(vsum, e);
  }
  double sum = hsum(vsum);
  for (; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  scale(x, float(1.0 / sum), n);
}

void swiglu(float* gate, const float* up, int64_t n) {
  const v128_t one = wasm_f32x4_splat(1.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t g = wasm_v128_load(gate + i);
    const v128_t silu = wasm_f32x4_div(g, wasm_f32x4_add(one, exp_f32x4(wasm_f32x4_neg(g))));
    wasm_v128_store(gate + i, wasm_f32x4_mul(silu, wasm_v128_load(up + i)));
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Four pairs at a time. Adjacent pairs (a0 b0 a1 b1 | a2 b2 a3 b3) are split
// into a and b vectors by two shuffles and put back by two more; NeoX pairs
// already sit in two runs. No fused multiply-add, so every value is the
// scalar twin's, bit for bit.
void rope_rotate(float* x, int32_t n_heads, int32_t d, RopeStyle style, const float* cos, const float* sin) {
  const int32_t half = d / 2;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* head = x + int64_t(h) * d;
    int32_t i = 0;
    for (; i + 4 <= half; i += 4) {
      const v128_t c = wasm_v128_load(cos + i), s = wasm_v128_load(sin + i);
      if (style == RopeStyle::NeoX) {
        const v128_t a = wasm_v128_load(head + i), b = wasm_v128_load(head + half + i);
        wasm_v128_store(head + i, wasm_f32x4_sub(wasm_f32x4_mul(a, c), wasm_f32x4_mul(b, s)));
        wasm_v128_store(head + half + i, wasm_f32x4_add(wasm_f32x4_mul(a, s), wasm_f32x4_mul(b, c)));
      } else {
        const v128_t v0 = wasm_v128_load(head + 2 * i), v1 = wasm_v128_load(head + 2 * i + 4);
        const v128_t a = wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6), b = wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7);
        const v128_t ra = wasm_f32x4_sub(wasm_f32x4_mul(a, c), wasm_f32x4_mul(b, s));
        const v128_t rb = wasm_f32x4_add(wasm_f32x4_mul(a, s), wasm_f32x4_mul(b, c));
        wasm_v128_store(head + 2 * i, wasm_i32x4_shuffle(ra, rb, 0, 4, 1, 5));
        wasm_v128_store(head + 2 * i + 4, wasm_i32x4_shuffle(ra, rb, 2, 6, 3, 7));
      }
    }
    for (; i < half; ++i) {
      const int32_t ia = style == RopeStyle::Adjacent ? 2 * i : i;
      const int32_t ib = style == RopeStyle::Adjacent ? 2 * i + 1 : i + half;
      const float a = head[ia], b = head[ib];
      head[ia] = a * cos[i] - b * sin[i];
      head[ib] = a * sin[i] + b * cos[i];
    }
  }
}

// ---- Float weight rows (F32 activations) -----------------------------------

float vec_dot_f32(int64_t n, const void* weights, const void* activations) {
  return dot_f32(static_cast<const float*>(weights), static_cast<const float*>(activations), n);
}

namespace {
// Eight halves to two float vectors.
inline void f16x8_to_f32(v128_t h, v128_t* lo, v128_t* hi) {
  *lo = f16x4_to_f32x4(wasm_u32x4_extend_low_u16x8(h));
  *hi = f16x4_to_f32x4(wasm_u32x4_extend_high_u16x8(h));
}
}  // namespace

void fp16_to_f32_row(const void* halves, float* out, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(halves);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t lo, hi;
    f16x8_to_f32(wasm_v128_load(p + 2 * i), &lo, &hi);
    wasm_v128_store(out + i, lo);
    wasm_v128_store(out + i + 4, hi);
  }
  for (; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = fp16_to_f32(h);
  }
}

// Sixteen codes at a time. The table's floats are cut into four byte planes
// (byte k of entry c at lane c of plane k); one swizzle per plane looks all
// sixteen codes up, and interleaving the planes back gives the floats.
void lut16_decode(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n) {
  uint8_t planes[4][16];
  for (int32_t c = 0; c < 16; ++c) {
    uint8_t b[4];
    std::memcpy(b, table + c, 4);
    for (int32_t k = 0; k < 4; ++k) planes[k][c] = b[k];
  }
  const v128_t p0 = wasm_v128_load(planes[0]), p1 = wasm_v128_load(planes[1]);
  const v128_t p2 = wasm_v128_load(planes[2]), p3 = wasm_v128_load(planes[3]);
  for (int64_t j = 0; j < n; j += 16) {
    const v128_t bytes = wasm_v128_load64_zero(codes + j / 2);
    const v128_t lo = wasm_v128_and(bytes, wasm_i8x16_splat(15)), hi = wasm_u8x16_shr(bytes, 4);
    const v128_t idx = wasm_i8x16_shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const v128_t b0 = wasm_i8x16_swizzle(p0, idx), b1 = wasm_i8x16_swizzle(p1, idx);
    const v128_t b2 = wasm_i8x16_swizzle(p2, idx), b3 = wasm_i8x16_swizzle(p3, idx);
    const v128_t b01_lo = wasm_i8x16_shuffle(b0, b1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const v128_t b01_hi = wasm_i8x16_shuffle(b0, b1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const v128_t b23_lo = wasm_i8x16_shuffle(b2, b3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const v128_t b23_hi = wasm_i8x16_shuffle(b2, b3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const v128_t s = wasm_f32x4_splat(scales[j / 16]);
    wasm_v128_store(out + j, wasm_f32x4_mul(wasm_i16x8_shuffle(b01_lo, b23_lo, 0, 8, 1, 9, 2, 10, 3, 11), s));
    wasm_v128_store(out + j + 4, wasm_f32x4_mul(wasm_i16x8_shuffle(b01_lo, b23_lo, 4, 12, 5, 13, 6, 14, 7, 15), s));
    wasm_v128_store(out + j + 8, wasm_f32x4_mul(wasm_i16x8_shuffle(b01_hi, b23_hi, 0, 8, 1, 9, 2, 10, 3, 11), s));
    wasm_v128_store(out + j + 12, wasm_f32x4_mul(wasm_i16x8_shuffle(b01_hi, b23_hi, 4, 12, 5, 13, 6, 14, 7, 15), s));
  }
}

// q4_scores / q4_accumulate (ops.h) for d a multiple of 32: 16 code bytes
// hold 32 values, low nibbles the even ones and high nibbles the odd ones,
// bytes 0-7 of each half in the first block and 8-15 in the second, so the
// levels come from one swizzle per half and the queries are split into even
// and odd 16-bit halves once per call. Other head dims take the scalar twin.
void q4_scores(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out, int64_t out_stride) {
  const int32_t d = k.d;
  if (d % 32 != 0 || d > kQ4MaxDim) {
    scalar::q4_scores(k, q, q_scale, n_q, out, out_stride);
    return;
  }
  const int32_t nb = d / 16, nc = d / 32;
  const v128_t table = wasm_v128_load(k.levels), low4 = wasm_i8x16_splat(15);
  // Per chunk of 32 values: even values of block 0, of block 1, odd of block 0, of block 1.
  alignas(16) int16_t split[kQ4Heads][kQ4MaxDim];
  for (int32_t h0 = 0; h0 < n_q; h0 += kQ4Heads) {
    const int32_t nh = std::min(kQ4Heads, n_q - h0);
    for (int32_t h = 0; h < nh; ++h) {
      split_even_odd(q + int64_t(h0 + h) * d, d, 32, split[h]);
    }
    for (int64_t r = 0; r < k.n; ++r) {
      const uint8_t* row = k.data + size_t(r) * k.row_bytes;
      const uint8_t* codes = row + nb;
      v128_t acc[kQ4Heads];
      for (int32_t h = 0; h < nh; ++h) acc[h] = wasm_f32x4_splat(0.0f);
      for (int32_t c = 0; c < nc; ++c) {
        const v128_t bytes = wasm_v128_load(codes + 16 * c);
        const v128_t klo = wasm_i8x16_swizzle(table, wasm_v128_and(bytes, low4));
        const v128_t khi = wasm_i8x16_swizzle(table, wasm_u8x16_shr(bytes, 4));
        const v128_t klo0 = wasm_i16x8_extend_low_i8x16(klo), klo1 = wasm_i16x8_extend_high_i8x16(klo);
        const v128_t khi0 = wasm_i16x8_extend_low_i8x16(khi), khi1 = wasm_i16x8_extend_high_i8x16(khi);
        const v128_t s0 = wasm_f32x4_splat(k.scales[row[2 * c]]), s1 = wasm_f32x4_splat(k.scales[row[2 * c + 1]]);
        for (int32_t h = 0; h < nh; ++h) {
          const int16_t* qs = &split[h][c * 32];
          const v128_t b0 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(klo0, wasm_v128_load(qs)),
                                           wasm_i32x4_dot_i16x8(khi0, wasm_v128_load(qs + 16)));
          const v128_t b1 = wasm_i32x4_add(wasm_i32x4_dot_i16x8(klo1, wasm_v128_load(qs + 8)),
                                           wasm_i32x4_dot_i16x8(khi1, wasm_v128_load(qs + 24)));
          acc[h] = wasm_f32x4_add(acc[h], wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(b0), s0),
                                                         wasm_f32x4_mul(wasm_f32x4_convert_i32x4(b1), s1)));
        }
      }
      for (int32_t h = 0; h < nh; ++h) out[int64_t(h0 + h) * out_stride + r] = q_scale[h0 + h] * hsum(acc[h]);
    }
  }
}

void q4_accumulate(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc) {
  const int32_t d = v.d;
  if (d % 32 != 0) {
    scalar::q4_accumulate(v, w, w_stride, n_q, acc);
    return;
  }
  const int32_t nb = d / 16, nc = d / 32;
  const v128_t table = wasm_v128_load(v.levels), low4 = wasm_i8x16_splat(15);
  for (int64_t r = 0; r < v.n; ++r) {
    const uint8_t* row = v.data + size_t(r) * v.row_bytes;
    const uint8_t* codes = row + nb;
    for (int32_t c = 0; c < nc; ++c) {
      const v128_t bytes = wasm_v128_load(codes + 16 * c);
      const v128_t klo = wasm_i8x16_swizzle(table, wasm_v128_and(bytes, low4));
      const v128_t khi = wasm_i8x16_swizzle(table, wasm_u8x16_shr(bytes, 4));
      // Back in value order: values 0-15 (block 0) and 16-31 (block 1).
      const v128_t v0 = wasm_i8x16_shuffle(klo, khi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
      const v128_t v1 = wasm_i8x16_shuffle(klo, khi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
      v128_t f[8];
      const v128_t halves[4] = {wasm_i16x8_extend_low_i8x16(v0), wasm_i16x8_extend_high_i8x16(v0),
                                wasm_i16x8_extend_low_i8x16(v1), wasm_i16x8_extend_high_i8x16(v1)};
      for (int32_t i = 0; i < 4; ++i) {
        f[2 * i] = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(halves[i]));
        f[2 * i + 1] = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(halves[i]));
      }
      for (int32_t h = 0; h < n_q; ++h) {
        float* a = acc + int64_t(h) * d + 32 * c;
        const float wr = w[int64_t(h) * w_stride + r];
        for (int32_t b = 0; b < 2; ++b) {
          const v128_t wb = wasm_f32x4_splat(wr * v.scales[row[2 * c + b]]);
          for (int32_t i = 0; i < 4; ++i) {
            float* ai = a + 16 * b + 4 * i;
            wasm_v128_store(ai, wasm_f32x4_add(wasm_v128_load(ai), wasm_f32x4_mul(f[4 * b + i], wb)));
          }
        }
      }
    }
  }
}

float vec_dot_f16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const float*>(activations);
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v128_t lo, hi;
    f16x8_to_f32(wasm_v128_load(w + i), &lo, &hi);
    s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(lo, wasm_v128_load(a + i)));
    s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(hi, wasm_v128_load(a + i + 4)));
  }
  float sum = hsum(wasm_f32x4_add(s0, s1));
  for (; i < n; ++i) sum += fp16_to_f32(w[i]) * a[i];
  return sum;
}

float vec_dot_bf16(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const uint16_t*>(weights);
  const auto* a = static_cast<const float*>(activations);
  v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const v128_t h = wasm_v128_load(w + i);
    const v128_t lo = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(h), 16);
    const v128_t hi = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(h), 16);
    s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(lo, wasm_v128_load(a + i)));
    s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(hi, wasm_v128_load(a + i + 4)));
  }
  float sum = hsum(wasm_f32x4_add(s0, s1));
  for (; i < n; ++i) sum += bf16_to_f32(w[i]) * a[i];
  return sum;
}

}  // namespace kvlite::simd128

#endif  // __wasm_simd128__
