// The k-quants Q4_K, Q5_K and Q6_K against Q8_K activations in WebAssembly
// SIMD128. Within a super-block every sub-block's integer dot is multiplied by
// its integer scale in i32 lanes; floats appear once per super-block, as in
// the scalar twin (types_k.cpp). Q2_K and Q3_K stay scalar for now.
#if defined(__wasm_simd128__)
#include "kernels/simd128/simd128_kernels.h"
#include "kernels/simd128/simd128_util.h"
#include "types/blocks.h"
#include "util/fp16.h"

namespace kvlite::simd128 {

namespace {

// Q4_K / Q5_K: 64-value chunks; a chunk's 32 bytes give sub-block 2c in the
// low nibbles and 2c+1 in the high ones. Q5_K adds bit s of qh[l] as bit 4.
template <bool kFifthBit, class Block>
float dot_k_4_5(const Block& w, const BlockQ8_K& a) {
  uint8_t sc[8], m[8];
  for (int s = 0; s < 8; ++s) unpack_k_scale_min(s, w.scales, &sc[s], &m[s]);
  const v128_t low4 = wasm_i8x16_splat(0x0f);
  v128_t scaled = wasm_i32x4_splat(0);
  for (int c = 0; c < 4; ++c) {
    for (int half = 0; half < 2; ++half) {  // bytes 0..15, 16..31 of the chunk
      const v128_t q = wasm_v128_load(w.qs + 32 * c + 16 * half);
      v128_t lo = wasm_v128_and(q, low4), hi = wasm_u8x16_shr(q, 4);
      if constexpr (kFifthBit) {
        const v128_t h = wasm_v128_load(w.qh + 16 * half);
        const v128_t one = wasm_i8x16_splat(1);
        lo = wasm_v128_or(lo, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h, 2 * c), one), 4));
        hi = wasm_v128_or(hi, wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(h, 2 * c + 1), one), 4));
      }
      const v128_t dlo = dot_i8x16(lo, wasm_v128_load(a.qs + 64 * c + 16 * half));
      const v128_t dhi = dot_i8x16(hi, wasm_v128_load(a.qs + 64 * c + 32 + 16 * half));
      scaled = wasm_i32x4_add(scaled, wasm_i32x4_mul(dlo, wasm_i32x4_splat(sc[2 * c])));
      scaled = wasm_i32x4_add(scaled, wasm_i32x4_mul(dhi, wasm_i32x4_splat(sc[2 * c + 1])));
    }
  }
  int mins = 0;
  for (int s = 0; s < 8; ++s) mins += m[s] * (a.bsums[2 * s] + a.bsums[2 * s + 1]);
  return a.d * (fp16_to_f32(w.d) * float(hsum_i32(scaled)) - fp16_to_f32(w.dmin) * float(mins));
}

// Q6_K: per 128-value half, quarter k takes nibbles from ql (low for k < 2,
// high for k >= 2, bytes (k & 1) * 32..) and bits 2k..2k+1 of qh; codes are
// biased by 32. Sub-blocks of 16 values, signed 8-bit scales.
float dot_q6_k_block(const BlockQ6_K& w, const BlockQ8_K& a) {
  const v128_t low4 = wasm_i8x16_splat(0x0f), three = wasm_i8x16_splat(3), bias = wasm_i8x16_splat(32);
  v128_t scaled = wasm_i32x4_splat(0);
  for (int h = 0; h < 2; ++h) {
    for (int k = 0; k < 4; ++k) {
      for (int part = 0; part < 2; ++part) {  // values l = 0..15 and 16..31 of the quarter
        const v128_t ql = wasm_v128_load(w.ql + 64 * h + (k & 1) * 32 + 16 * part);
        const v128_t qh = wasm_v128_load(w.qh + 32 * h + 16 * part);
        const v128_t nibble = k < 2 ? wasm_v128_and(ql, low4) : wasm_u8x16_shr(ql, 4);
        const v128_t high = wasm_i8x16_shl(wasm_v128_and(wasm_u8x16_shr(qh, 2 * k), three), 4);
        const v128_t code = wasm_i8x16_sub(wasm_v128_or(nibble, high), bias);
        const int e = 128 * h + 32 * k + 16 * part;
        const v128_t d = dot_i8x16(code, wasm_v128_load(a.qs + e));
        scaled = wasm_i32x4_add(scaled, wasm_i32x4_mul(d, wasm_i32x4_splat(w.scales[e / 16])));
      }
    }
  }
  return a.d * fp16_to_f32(w.d) * float(hsum_i32(scaled));
}

}  // namespace

float vec_dot_q4_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_k_4_5<false>(w[i], a[i]);
  return sum;
}

float vec_dot_q5_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_k_4_5<true>(w[i], a[i]);
  return sum;
}

float vec_dot_q6_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ6_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_q6_k_block(w[i], a[i]);
  return sum;
}

}  // namespace kvlite::simd128

#endif  // __wasm_simd128__
