// The 4- and 5-bit 32-value block quants (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL)
// against 8-bit activations in WebAssembly SIMD128. Codes are unpacked to
// signed bytes in registers and multiplied as Q8_0 is; four blocks' integer
// sums are scaled together, as in dot_q8_simd128.cpp.
#if defined(__wasm_simd128__)
#include "kernels/simd128/simd128_kernels.h"
#include "kernels/simd128/simd128_util.h"
#include "types/blocks.h"

namespace kvlite::simd128 {

namespace {

// The 32 nibbles of a block as bytes: elements 0..15 and 16..31.
inline void unpack_nibbles(const uint8_t* qs, v128_t* lo, v128_t* hi) {
  const v128_t q = wasm_v128_load(qs);
  *lo = wasm_v128_and(q, wasm_i8x16_splat(0x0f));
  *hi = wasm_u8x16_shr(q, 4);
}

// 0x10 in byte j where bit j of the 32-bit field qh is set: elements 0..15
// in lo, 16..31 in hi. Each byte picks its qh byte, then tests its own bit.
inline void unpack_fifth_bits(const uint8_t* qh, v128_t* lo, v128_t* hi) {
  const v128_t bytes = wasm_v128_load32_splat(qh);
  const v128_t bit = wasm_u8x16_const(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
  const v128_t pick_lo = wasm_i8x16_swizzle(bytes, wasm_i8x16_const(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const v128_t pick_hi = wasm_i8x16_swizzle(bytes, wasm_i8x16_const(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const v128_t sixteen = wasm_i8x16_splat(0x10);
  *lo = wasm_v128_and(wasm_i8x16_eq(wasm_v128_and(pick_lo, bit), bit), sixteen);
  *hi = wasm_v128_and(wasm_i8x16_eq(wasm_v128_and(pick_hi, bit), bit), sixteen);
}

template <class Block>
inline v128_t dot_codes(v128_t lo, v128_t hi, const Block& a) {
  return wasm_i32x4_add(dot_i8x16(lo, wasm_v128_load(a.qs)), dot_i8x16(hi, wasm_v128_load(a.qs + 16)));
}

// Integer dot of one weight block (codes from Unpack) with its activations.
struct Q4_0Codes {
  v128_t operator()(const BlockQ4_0& w, const BlockQ8_0& a) const {
    v128_t lo, hi;
    unpack_nibbles(w.qs, &lo, &hi);
    const v128_t eight = wasm_i8x16_splat(8);
    return dot_codes(wasm_i8x16_sub(lo, eight), wasm_i8x16_sub(hi, eight), a);
  }
};
struct Q4_1Codes {
  v128_t operator()(const BlockQ4_1& w, const BlockQ8_1& a) const {
    v128_t lo, hi;
    unpack_nibbles(w.qs, &lo, &hi);
    return dot_codes(lo, hi, a);
  }
};
struct Q5_0Codes {
  v128_t operator()(const BlockQ5_0& w, const BlockQ8_0& a) const {
    v128_t lo, hi, hlo, hhi;
    unpack_nibbles(w.qs, &lo, &hi);
    unpack_fifth_bits(w.qh, &hlo, &hhi);
    const v128_t sixteen = wasm_i8x16_splat(16);
    return dot_codes(wasm_i8x16_sub(wasm_v128_or(lo, hlo), sixteen), wasm_i8x16_sub(wasm_v128_or(hi, hhi), sixteen), a);
  }
};
struct Q5_1Codes {
  v128_t operator()(const BlockQ5_1& w, const BlockQ8_1& a) const {
    v128_t lo, hi, hlo, hhi;
    unpack_nibbles(w.qs, &lo, &hi);
    unpack_fifth_bits(w.qh, &hlo, &hhi);
    return dot_codes(wasm_v128_or(lo, hlo), wasm_v128_or(hi, hhi), a);
  }
};
struct IQ4NLCodes {
  v128_t operator()(const BlockIQ4_NL& w, const BlockQ8_0& a) const {
    v128_t lo, hi;
    unpack_nibbles(w.qs, &lo, &hi);
    const v128_t book = wasm_v128_load(kIQ4NLValues);
    return dot_codes(wasm_i8x16_swizzle(book, lo), wasm_i8x16_swizzle(book, hi), a);
  }
};

// sum over blocks of isum * d_w * d_a (+ m_w * s_a for the types with a min).
template <bool kHasMin, class WBlock, class ABlock, class Codes>
float dot_blocks(int64_t n, const void* weights, const void* activations, Codes codes) {
  const auto* w = static_cast<const WBlock*>(weights);
  const auto* a = static_cast<const ABlock*>(activations);
  const int64_t nb = n / kQK;
  v128_t acc = wasm_f32x4_splat(0.0f), acc_min = acc;
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    const v128_t sums = transpose_sum(codes(w[i], a[i]), codes(w[i + 1], a[i + 1]), codes(w[i + 2], a[i + 2]),
                                      codes(w[i + 3], a[i + 3]));
    const v128_t dw = load_finite_f16x4(&w[i].d, &w[i + 1].d, &w[i + 2].d, &w[i + 3].d);
    const v128_t da = load_f16x4(&a[i].d, &a[i + 1].d, &a[i + 2].d, &a[i + 3].d);
    acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_f32x4_convert_i32x4(sums), wasm_f32x4_mul(dw, da)));
    if constexpr (kHasMin) {
      const v128_t m = load_finite_f16x4(&w[i].m, &w[i + 1].m, &w[i + 2].m, &w[i + 3].m);
      const v128_t s = load_f16x4(&a[i].s, &a[i + 1].s, &a[i + 2].s, &a[i + 3].s);
      acc_min = wasm_f32x4_add(acc_min, wasm_f32x4_mul(m, s));
    }
  }
  float sum = hsum(wasm_f32x4_add(acc, acc_min));
  for (; i < nb; ++i) {
    sum += float(hsum_i32(codes(w[i], a[i]))) * (f16_to_f32(&w[i].d) * f16_to_f32(&a[i].d));
    if constexpr (kHasMin) sum += f16_to_f32(&w[i].m) * f16_to_f32(&a[i].s);
  }
  return sum;
}

}  // namespace

float vec_dot_q4_0(int64_t n, const void* w, const void* a) {
  return dot_blocks<false, BlockQ4_0, BlockQ8_0>(n, w, a, Q4_0Codes{});
}
float vec_dot_q4_1(int64_t n, const void* w, const void* a) {
  return dot_blocks<true, BlockQ4_1, BlockQ8_1>(n, w, a, Q4_1Codes{});
}
float vec_dot_q5_0(int64_t n, const void* w, const void* a) {
  return dot_blocks<false, BlockQ5_0, BlockQ8_0>(n, w, a, Q5_0Codes{});
}
float vec_dot_q5_1(int64_t n, const void* w, const void* a) {
  return dot_blocks<true, BlockQ5_1, BlockQ8_1>(n, w, a, Q5_1Codes{});
}
float vec_dot_iq4_nl(int64_t n, const void* w, const void* a) {
  return dot_blocks<false, BlockIQ4_NL, BlockQ8_0>(n, w, a, IQ4NLCodes{});
}

}  // namespace kvlite::simd128

#endif  // __wasm_simd128__
