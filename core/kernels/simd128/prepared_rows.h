// The loop shared by the SIMD128 and the relaxed-SIMD prepared row dot
// products (dot_q8_simd128.cpp, relaxed/dot_relaxed.cpp). Both read, per block
// of 32 weights, 64 bytes of a token's prepared activations and, at byte
// offset 2n of its prepared row, one float scale per block; they differ only
// in how a weight block meets those 64 bytes. A Policy gives:
//   using Block;                                   the weight block (d: fp16 scale)
//   using Weights;                                 a block made ready once for every token
//   static Weights load(const Block&);
//   static v128_t dot(const Weights&, const uint8_t* act);   the block's four i32 partial sums
// Each block's four i32 partial sums are converted to floats and added, times
// the block's scale product, into one float vector per token, so the loop
// body is one block. The previous form, four blocks per iteration with their
// sums gathered into one vector, had V8 hoist the iteration's 24 loads above
// the arithmetic and spill (node 20's code, --print-wasm-code). Measured with
// kvlite-bench --quick, old and new builds alternating: under node 20, Q8_0
// matrix-vector 12.5 -> 18.6 GB/s at 2048x2048 and the 64-token matmul 24-27
// -> 31-33 GOP/s; in Chromium 156 that matmul 39-40 -> 43-44 GOP/s. Lane k of
// a block's sums covers the same eight elements in every Policy (bytes
// 4k..4k+3 of each 16-byte half), so the SIMD128 and relaxed kernels stay
// bit-identical.
// Only included by files built with SIMD128 enabled.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/simd128/simd128_util.h"
#include "types/blocks.h"

namespace kvlite::simd128 {

// out[t] = one weight row's dot product with token t's prepared activations
// (kTokens tokens' prepared rows, `stride` bytes apart); each token's
// arithmetic is the one-token case's, so batched and token-by-token results
// are bit-identical.
template <int kTokens, class Policy>
inline void dot_prepared_rows(int64_t n, const void* weights, const void* prepared, size_t stride, float* out) {
  const auto* b = static_cast<const typename Policy::Block*>(weights);
  const uint8_t* p[kTokens];
  const float* ad[kTokens];
  v128_t acc[kTokens];
  for (int t = 0; t < kTokens; ++t) {
    p[t] = static_cast<const uint8_t*>(prepared) + size_t(t) * stride;
    ad[t] = reinterpret_cast<const float*>(p[t] + 2 * n);
    acc[t] = wasm_f32x4_splat(0.0f);
  }
  const int64_t nb = n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const typename Policy::Weights w = Policy::load(b[i]);
    const float dw = finite_f16_to_f32(&b[i].d);
    for (int t = 0; t < kTokens; ++t) {
      const v128_t sums = wasm_f32x4_convert_i32x4(Policy::dot(w, p[t] + 64 * i));
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(sums, wasm_f32x4_splat(dw * ad[t][i])));
    }
  }
  for (int t = 0; t < kTokens; ++t) out[t] = hsum(acc[t]);
}

}  // namespace kvlite::simd128
