// Q8_0 rows against Q8_0 activations, and the activation quantizers (Q8_0,
// Q8_1, Q8_K), in WebAssembly SIMD128. Q8_0 carries most of a Q8_0 model's
// time, so it is written for bandwidth: the integer sums of four blocks are
// gathered into one vector and scaled by their four fp16 scale products at
// once, with no horizontal reduction inside the loop.
#if defined(__wasm_simd128__)
#include "kernels/simd128/simd128_kernels.h"

#include "kernels/simd128/prepared_rows.h"
#include "kernels/simd128/simd128_util.h"
#include "types/blocks.h"
#include "util/fp16.h"

namespace kvlite::simd128 {

namespace {

v128_t block_dot_q8(const BlockQ8_0& w, const BlockQ8_0& a) {
  const v128_t s0 = dot_i8x16(wasm_v128_load(w.qs), wasm_v128_load(a.qs));
  const v128_t s1 = dot_i8x16(wasm_v128_load(w.qs + 16), wasm_v128_load(a.qs + 16));
  return wasm_i32x4_add(s0, s1);
}

// Codes of 4 floats times `id`, rounded to nearest even and clamped to
// -127..127 exactly as round_clamped does (NaN goes to -127), as i32 lanes.
v128_t round_codes(v128_t x, v128_t id) {
  v128_t v = wasm_f32x4_mul(x, id);
  v = wasm_f32x4_pmax(wasm_f32x4_splat(-127.0f), v);  // NaN -> -127
  v = wasm_f32x4_pmin(wasm_f32x4_splat(127.0f), v);
  return wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_nearest(v));
}

// 32 floats to 32 codes; returns their sum (Q8_1 needs it).
int32_t quantize_32(const float* x, float id, int8_t* qs) {
  const v128_t vid = wasm_f32x4_splat(id);
  v128_t sum = wasm_i32x4_splat(0);
  for (int j = 0; j < 32; j += 16) {
    const v128_t c0 = round_codes(wasm_v128_load(x + j), vid);
    const v128_t c1 = round_codes(wasm_v128_load(x + j + 4), vid);
    const v128_t c2 = round_codes(wasm_v128_load(x + j + 8), vid);
    const v128_t c3 = round_codes(wasm_v128_load(x + j + 12), vid);
    sum = wasm_i32x4_add(sum, wasm_i32x4_add(wasm_i32x4_add(c0, c1), wasm_i32x4_add(c2, c3)));
    const v128_t lo = wasm_i16x8_narrow_i32x4(c0, c1), hi = wasm_i16x8_narrow_i32x4(c2, c3);
    wasm_v128_store(qs + j, wasm_i8x16_narrow_i16x8(lo, hi));
  }
  return hsum_i32(sum);
}

// max |x| over n floats (n a multiple of 16); NaNs are skipped as fmax does.
float abs_max(const float* x, int n) {
  v128_t m0 = wasm_f32x4_splat(0.0f), m1 = m0;
  for (int j = 0; j < n; j += 8) {
    m0 = wasm_f32x4_pmax(m0, wasm_f32x4_abs(wasm_v128_load(x + j)));
    m1 = wasm_f32x4_pmax(m1, wasm_f32x4_abs(wasm_v128_load(x + j + 4)));
  }
  const v128_t m = wasm_f32x4_pmax(m0, m1);
  const float a = wasm_f32x4_extract_lane(m, 0), b = wasm_f32x4_extract_lane(m, 1);
  const float c = wasm_f32x4_extract_lane(m, 2), d = wasm_f32x4_extract_lane(m, 3);
  const float ab = a < b ? b : a, cd = c < d ? d : c;
  return ab < cd ? cd : ab;
}

float inverse_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

}  // namespace

float vec_dot_q8_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ8_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  const int64_t nb = n / kQK;
  v128_t acc = wasm_f32x4_splat(0.0f);
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    const v128_t sums = transpose_sum(block_dot_q8(w[i], a[i]), block_dot_q8(w[i + 1], a[i + 1]),
                                      block_dot_q8(w[i + 2], a[i + 2]), block_dot_q8(w[i + 3], a[i + 3]));
    const v128_t dw = load_finite_f16x4(&w[i].d, &w[i + 1].d, &w[i + 2].d, &w[i + 3].d);
    const v128_t da = load_f16x4(&a[i].d, &a[i + 1].d, &a[i + 2].d, &a[i + 3].d);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(sums), wasm_f32x4_mul(dw, da)));
  }
  float sum = hsum(acc);
  for (; i < nb; ++i) {
    sum += float(hsum_i32(block_dot_q8(w[i], a[i]))) * (f16_to_f32(&w[i].d) * f16_to_f32(&a[i].d));
  }
  return sum;
}

void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = abs_max(src, kQK) / 127.0f;
    quantize_32(src, inverse_or_zero(d), b[i].qs);
    b[i].d = f32_to_fp16(d);
  }
}

void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = abs_max(src, kQK) / 127.0f;
    const int32_t sum = quantize_32(src, inverse_or_zero(d), b[i].qs);
    b[i].d = f32_to_fp16(d);
    b[i].s = f32_to_fp16(d * float(sum));
  }
}

// The scale comes from the first value of largest magnitude, sign kept, as
// the scalar quantizer picks it; the search for it is vectorised too.
void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    const float amax = abs_max(src, kQK_K);
    float peak = 0.0f;
    const v128_t target = wasm_f32x4_splat(amax);
    for (int j = 0; j < kQK_K; j += 4) {
      const uint32_t hit = wasm_i32x4_bitmask(wasm_f32x4_eq(wasm_f32x4_abs(wasm_v128_load(src + j)), target));
      if (hit) {
        peak = src[j + __builtin_ctz(hit)];
        break;
      }
    }
    const float iscale = peak != 0.0f ? -127.0f / peak : 0.0f;
    for (int j = 0; j < kQK_K; j += 32) quantize_32(src + j, iscale, b[i].qs + j);
    for (int g = 0; g < kQK_K / 16; ++g) {
      const v128_t q = wasm_v128_load(b[i].qs + 16 * g);
      const v128_t s16 = wasm_i16x8_extadd_pairwise_i8x16(q);
      b[i].bsums[g] = int16_t(hsum_i32(wasm_i32x4_extadd_pairwise_i16x8(s16)));
    }
    b[i].d = inverse_or_zero(iscale);
  }
}

// ---- Prepared activations ----------------------------------------------------
// SIMD128 has no 8-bit dot product: bytes must become 16-bit lanes before
// i32x4.dot_i16x8. The activations are widened once per token, split into
// even- and odd-indexed values, the odd ones times 256: then a weight vector
// read as eight 16-bit lanes gives 256 * its even bytes with one shift left
// and its odd bytes with one arithmetic shift right, cheaper than
// sign-extending both halves, and with no constant operand (V8 rebuilds
// vector constants inside loops). Every product is 256 * w * a; the factor
// is folded into the prepared scales (exact: a power of two), and the
// integer sums stay exact in float (|256 * sum| < 2^24 * 256).
// Layout per block of 32: i16 [even 0..15][256 * odd 0..15][even 16..31]
// [256 * odd 16..31], then one float scale per block, d / 256.

size_t q8_0_prepared_bytes(int64_t n) { return size_t(n) * 2 + size_t(n / kQK) * 4; }

void prepare_q8_0(const void* activations, int64_t n, void* prepared) {
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  auto* q = static_cast<int16_t*>(prepared);
  auto* d = reinterpret_cast<float*>(q + n);
  for (int64_t i = 0; i < n / kQK; ++i) {
    for (int c = 0; c < 2; ++c) {
      const v128_t v = wasm_v128_load(a[i].qs + 16 * c);
      const v128_t even = wasm_i8x16_shuffle(v, v, 0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
      wasm_v128_store(q + 32 * i + 16 * c, wasm_i16x8_extend_low_i8x16(even));
      wasm_v128_store(q + 32 * i + 16 * c + 8, wasm_i16x8_shl(wasm_i16x8_extend_high_i8x16(even), 8));
    }
    d[i] = fp16_to_f32(a[i].d) * (1.0f / 256.0f);
  }
}

namespace {

// A block's 32 weight bytes as the four 16-bit vectors the prepared
// activations meet: 256 * even bytes and odd bytes of each 16-byte half.
struct Widened {
  v128_t even0, odd0, even1, odd1;
};

inline Widened widen(v128_t lo, v128_t hi) {
  return {wasm_i16x8_shl(lo, 8), wasm_i16x8_shr(lo, 8), wasm_i16x8_shl(hi, 8), wasm_i16x8_shr(hi, 8)};
}

// 256 * the block's dot product, as four i32 partial sums, against the
// prepared activations of the same 32 positions.
inline v128_t dot_widened(const Widened& w, const int16_t* a) {
  const v128_t lo = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w.even0, wasm_v128_load(a)),
                                   wasm_i32x4_dot_i16x8(w.odd0, wasm_v128_load(a + 8)));
  const v128_t hi = wasm_i32x4_add(wasm_i32x4_dot_i16x8(w.even1, wasm_v128_load(a + 16)),
                                   wasm_i32x4_dot_i16x8(w.odd1, wasm_v128_load(a + 24)));
  return wasm_i32x4_add(lo, hi);
}

// A weight block as dot_widened needs it, made once for every token
// (prepared_rows.h runs the loop; one and two tokens per weight pass: V8 has
// 16 vector registers, and four tokens' four blocks of sums would not fit).
template <class Codes>
struct WidenedPolicy {
  using Block = typename Codes::Block;
  using Weights = Widened;
  static Weights load(const Block& b) { return Codes::widen(b); }
  static v128_t dot(const Weights& w, const uint8_t* act) { return dot_widened(w, reinterpret_cast<const int16_t*>(act)); }
};

struct Q8_0Prepared {
  using Block = BlockQ8_0;
  static Widened widen(const BlockQ8_0& w) {
    return simd128::widen(wasm_v128_load(w.qs), wasm_v128_load(w.qs + 16));
  }
};

// Q4_0's nibbles become bytes as in dot_q4_simd128.cpp, then meet the same
// prepared activations.
struct Q4_0Prepared {
  using Block = BlockQ4_0;
  static Widened widen(const BlockQ4_0& w) {
    const v128_t q = wasm_v128_load(w.qs), eight = wasm_i8x16_splat(8);
    const v128_t lo = wasm_i8x16_sub(wasm_v128_and(q, wasm_i8x16_splat(0x0f)), eight);
    const v128_t hi = wasm_i8x16_sub(wasm_u8x16_shr(q, 4), eight);
    return simd128::widen(lo, hi);
  }
};

using Q8Policy = WidenedPolicy<Q8_0Prepared>;
using Q4Policy = WidenedPolicy<Q4_0Prepared>;

}  // namespace

float dot_q8_0_prepared(int64_t n, const void* weights, const void* prepared) {
  float out;
  dot_prepared_rows<1, Q8Policy>(n, weights, prepared, 0, &out);
  return out;
}

void dot_q8_0_prepared_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out) {
  dot_prepared_rows<2, Q8Policy>(n, weights, prepared, stride, out);
}

float dot_q4_0_prepared(int64_t n, const void* weights, const void* prepared) {
  float out;
  dot_prepared_rows<1, Q4Policy>(n, weights, prepared, 0, &out);
  return out;
}

void dot_q4_0_prepared_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out) {
  dot_prepared_rows<2, Q4Policy>(n, weights, prepared, stride, out);
}

}  // namespace kvlite::simd128

#endif  // __wasm_simd128__
