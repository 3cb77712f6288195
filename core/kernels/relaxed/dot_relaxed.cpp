// Q8_0 and Q4_0 rows against prepared activations with relaxed SIMD's 8-bit
// dot product (i32x4.relaxed_dot_i8x16_i7x16_add_s): sixteen byte products
// summed into four lanes in one instruction, where SIMD128 needs the bytes
// widened to 16 bits first. On x86 V8 lowers it to VPDPBUSD (AVX-VNNI) or to
// PMADDUBSW + PMADDWD.
//
// Only Debian's clang-19 (-mrelaxed-simd) compiles this file; Emscripten
// 3.1.6's clang 14 cannot, and in every other build it is empty. The object
// goes into the *-relaxed wasm modules only (CMakeLists.txt), which the page
// loads where the browser validates relaxed SIMD; kernels/simd128/
// relaxed_set.cpp finds these functions through weak references.
//
// The second operand must be 7-bit (0..127) for the result to be the same on
// every engine, so each token's Q8_0 codes (-127..127, as quantize_q8_0 makes
// them) are split once per matmul into their positive and negative parts:
// a = pos - neg. Weight bytes are the signed operand and may be any int8.
// The integer block sums are exact, and the float work is the SIMD128
// kernel's operation for operation (that kernel's sums are 256 times larger
// and its activation scales 256 times smaller, both exact), so the results
// are bit-identical to the simd128 set's.
//
// Prepared layout per block of 32: [pos 0..31][neg 0..31] as bytes, then one
// float scale per block: 2n + 4n/32 bytes, the same size as SIMD128's.
#if defined(__wasm_relaxed_simd__)
#include <cstddef>
#include <cstdint>

#include "kernels/simd128/prepared_rows.h"
#include "kernels/simd128/simd128_util.h"
#include "types/blocks.h"
#include "util/fp16.h"

namespace kvlite::relaxed {

namespace {


// A block's 32 weights as signed bytes: elements 0..15 and 16..31.
struct Bytes {
  v128_t lo, hi;
};

struct Q8_0Codes {
  using Block = BlockQ8_0;
  static Bytes bytes(const BlockQ8_0& w) { return {wasm_v128_load(w.qs), wasm_v128_load(w.qs + 16)}; }
};

// Byte j holds element j in its low nibble and element j + 16 in its high one.
struct Q4_0Codes {
  using Block = BlockQ4_0;
  static Bytes bytes(const BlockQ4_0& w) {
    const v128_t q = wasm_v128_load(w.qs), eight = wasm_i8x16_splat(8);
    return {wasm_i8x16_sub(wasm_v128_and(q, wasm_i8x16_splat(0x0f)), eight), wasm_i8x16_sub(wasm_u8x16_shr(q, 4), eight)};
  }
};

// The block's dot product as four i32 partial sums.
inline v128_t block_dot(const Bytes& w, const uint8_t* p) {
  const v128_t zero = wasm_i32x4_splat(0);
  const v128_t pos = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(
      w.hi, wasm_v128_load(p + 16), wasm_i32x4_relaxed_dot_i8x16_i7x16_add(w.lo, wasm_v128_load(p), zero));
  const v128_t neg = wasm_i32x4_relaxed_dot_i8x16_i7x16_add(
      w.hi, wasm_v128_load(p + 48), wasm_i32x4_relaxed_dot_i8x16_i7x16_add(w.lo, wasm_v128_load(p + 32), zero));
  return wasm_i32x4_sub(pos, neg);
}

// The row loop is prepared_rows.h's (shared with the SIMD128 kernels, whose
// float operations these repeat one for one).
template <class Codes>
struct BytesPolicy {
  using Block = typename Codes::Block;
  using Weights = Bytes;
  static Weights load(const Block& b) { return Codes::bytes(b); }
  static v128_t dot(const Weights& w, const uint8_t* act) { return block_dot(w, act); }
};

using Q8Policy = BytesPolicy<Q8_0Codes>;
using Q4Policy = BytesPolicy<Q4_0Codes>;

}  // namespace

size_t prepared_bytes(int64_t n) { return size_t(n) * 2 + size_t(n / kQK) * 4; }

void prepare_q8_0(const void* activations, int64_t n, void* prepared) {
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  auto* p = static_cast<uint8_t*>(prepared);
  auto* d = reinterpret_cast<float*>(p + 2 * n);
  const v128_t zero = wasm_i8x16_splat(0);
  for (int64_t i = 0; i < n / kQK; ++i) {
    for (int c = 0; c < 2; ++c) {
      const v128_t q = wasm_v128_load(a[i].qs + 16 * c);
      wasm_v128_store(p + 64 * i + 16 * c, wasm_i8x16_max(q, zero));
      wasm_v128_store(p + 64 * i + 32 + 16 * c, wasm_i8x16_max(wasm_i8x16_neg(q), zero));
    }
    d[i] = fp16_to_f32(a[i].d);
  }
}

float dot_q8_0(int64_t n, const void* weights, const void* prepared) {
  float out;
  simd128::dot_prepared_rows<1, Q8Policy>(n, weights, prepared, 0, &out);
  return out;
}

void dot_q8_0_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out) {
  simd128::dot_prepared_rows<2, Q8Policy>(n, weights, prepared, stride, out);
}

float dot_q4_0(int64_t n, const void* weights, const void* prepared) {
  float out;
  simd128::dot_prepared_rows<1, Q4Policy>(n, weights, prepared, 0, &out);
  return out;
}

void dot_q4_0_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out) {
  simd128::dot_prepared_rows<2, Q4Policy>(n, weights, prepared, stride, out);
}

}  // namespace kvlite::relaxed

#endif  // __wasm_relaxed_simd__
