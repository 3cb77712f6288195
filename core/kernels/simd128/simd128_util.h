// Small WebAssembly SIMD128 helpers shared by the simd128 kernels.
#pragma once

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>

#include <cstdint>
#include <cstring>

namespace kvlite::simd128 {

inline float hsum(v128_t v) {
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_f32x4_extract_lane(v, 0);
}

inline int32_t hsum_i32(v128_t v) {
  v = wasm_i32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
  v = wasm_i32x4_add(v, wasm_i32x4_shuffle(v, v, 1, 0, 3, 2));
  return wasm_i32x4_extract_lane(v, 0);
}

// Four binary16 values held in the low halves of i32 lanes, to floats. The
// bits are moved into place and rescaled by 2^112, which is exact for normal
// and subnormal halves; the exponent of infinities and NaNs is then forced to
// all ones so they stay what they were.
inline v128_t f16x4_to_f32x4(v128_t h) {
  const v128_t magnitude = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x7fff)), 13);
  v128_t f = wasm_f32x4_mul(magnitude, wasm_f32x4_splat(0x1p112f));
  const v128_t special = wasm_i32x4_eq(wasm_v128_and(h, wasm_i32x4_splat(0x7c00)), wasm_i32x4_splat(0x7c00));
  f = wasm_v128_or(f, wasm_v128_and(special, wasm_i32x4_splat(0x7f800000)));
  return wasm_v128_or(f, wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_splat(0x8000)), 16));
}

// The 16-bit fields at p0..p3 (any alignment) in the four i32 lanes,
// zero-extended (Half = uint16_t) or sign-extended (int16_t).
template <class Half>
inline v128_t gather_halves(const void* p0, const void* p1, const void* p2, const void* p3) {
  Half h[4];
  std::memcpy(&h[0], p0, 2);
  std::memcpy(&h[1], p1, 2);
  std::memcpy(&h[2], p2, 2);
  std::memcpy(&h[3], p3, 2);
  return wasm_i32x4_make(h[0], h[1], h[2], h[3]);
}

// The fp16 fields at p0..p3 (any alignment) as four floats.
inline v128_t load_f16x4(const void* p0, const void* p1, const void* p2, const void* p3) {
  return f16x4_to_f32x4(gather_halves<uint16_t>(p0, p1, p2, p3));
}

// The same for weight-block scales in the hot loops, in five vector
// operations instead of twelve (measured: Q8_0 matrix-vector 10% faster).
// Each half is loaded sign-extended, so after the shift left by 13 the sign
// sits in bit 31 and its copies in bits 28..30 are cleared; the rest is as
// above. Finite halves only: an infinite or NaN scale, which only a corrupt
// file holds, becomes a large finite number (2^16 * (1 + m)).
inline v128_t load_finite_f16x4(const void* p0, const void* p1, const void* p2, const void* p3) {
  const v128_t bits = wasm_i32x4_shl(gather_halves<int16_t>(p0, p1, p2, p3), 13);
  return wasm_f32x4_mul(wasm_v128_and(bits, wasm_i32x4_splat(int32_t(0x8fffffff))), wasm_f32x4_splat(0x1p112f));
}

// One weight-block scale as load_finite_f16x4 converts it, in scalar code.
inline float finite_f16_to_f32(const void* p) {
  int16_t h;
  std::memcpy(&h, p, 2);
  const uint32_t bits = (uint32_t(int32_t(h)) << 13) & 0x8fffffffu;
  float f;
  std::memcpy(&f, &bits, 4);
  return f * 0x1p112f;
}

inline float f16_to_f32(const void* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return wasm_f32x4_extract_lane(f16x4_to_f32x4(wasm_i32x4_splat(h)), 0);
}

// Lane i of the result is the sum of the four lanes of s_i.
inline v128_t transpose_sum(v128_t s0, v128_t s1, v128_t s2, v128_t s3) {
  const v128_t u0 = wasm_i32x4_add(wasm_i32x4_shuffle(s0, s1, 0, 4, 2, 6), wasm_i32x4_shuffle(s0, s1, 1, 5, 3, 7));
  const v128_t u1 = wasm_i32x4_add(wasm_i32x4_shuffle(s2, s3, 0, 4, 2, 6), wasm_i32x4_shuffle(s2, s3, 1, 5, 3, 7));
  return wasm_i32x4_add(wasm_i32x4_shuffle(u0, u1, 0, 1, 4, 5), wasm_i32x4_shuffle(u0, u1, 2, 3, 6, 7));
}

// Sum over 16 lanes of a[i] * b[i] (signed bytes) as four i32 partial sums.
inline v128_t dot_i8x16(v128_t a, v128_t b) {
  const v128_t lo = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_low_i8x16(a), wasm_i16x8_extend_low_i8x16(b));
  const v128_t hi = wasm_i32x4_dot_i16x8(wasm_i16x8_extend_high_i8x16(a), wasm_i16x8_extend_high_i8x16(b));
  return wasm_i32x4_add(lo, hi);
}

// exp(x) for four floats, to about 2 ulp: x = n ln2 + r with |r| <= ln2/2,
// a degree-6 polynomial for exp(r), and 2^n built in the exponent bits of two
// factors 2^(n/2) so that both stay normal. Inputs are clamped to [-87.34, 89]:
// below, the result stays at the smallest normal (~1e-38) instead of going
// subnormal; above, it overflows to infinity as exp does.
inline v128_t exp_f32x4(v128_t x) {
  x = wasm_f32x4_pmin(wasm_f32x4_splat(89.0f), x);
  x = wasm_f32x4_pmax(wasm_f32x4_splat(-87.3365478515625f), x);
  const v128_t n = wasm_f32x4_nearest(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)));
  // ln2 split in a part with few mantissa bits (exact n * hi) and the rest.
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693359375f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(-2.12194440e-4f)));
  v128_t p = wasm_f32x4_splat(1.9875691500e-4f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.3981999507e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(8.3334519073e-3f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(4.1665795894e-2f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.6666665459e-1f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(5.0000001201e-1f));
  const v128_t r2 = wasm_f32x4_mul(r, r);
  const v128_t y = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(p, r2), r), wasm_f32x4_splat(1.0f));
  const v128_t ni = wasm_i32x4_trunc_sat_f32x4(n);
  const v128_t n1 = wasm_i32x4_shr(ni, 1), n2 = wasm_i32x4_sub(ni, n1);
  const v128_t p1 = wasm_i32x4_shl(wasm_i32x4_add(n1, wasm_i32x4_splat(127)), 23);
  const v128_t p2 = wasm_i32x4_shl(wasm_i32x4_add(n2, wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(wasm_f32x4_mul(y, p1), p2);
}

}  // namespace kvlite::simd128

#endif  // __wasm_simd128__
