// The loop shared by the SIMD128 and the relaxed-SIMD prepared row dot
// products (dot_q8_simd128.cpp, relaxed/dot_relaxed.cpp). Both read, per block
// of 32 weights, 64 bytes of a token's prepared activations and, at byte
// offset 2n of its prepared row, one float scale per block; they differ only
// in how a weight block meets those 64 bytes. A Policy gives:
//   using Block;                                   the weight block (d: fp16 scale)
//   using Weights;                                 a block made ready once for every token
//   static Weights load(const Block&);
//   static v128_t dot(const Weights&, const uint8_t* act);   the block's four i32 partial sums
// Integer sums of four blocks are gathered into one vector and scaled by their
// four scale products at once (lane j accumulates blocks j, j + 4, j + 8...),
// with no horizontal reduction inside the loop.
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
  int64_t i = 0;
  for (; i + 4 <= nb; i += 4) {
    v128_t s[kTokens][4];
    for (int j = 0; j < 4; ++j) {
      const typename Policy::Weights w = Policy::load(b[i + j]);
      for (int t = 0; t < kTokens; ++t) s[t][j] = Policy::dot(w, p[t] + 64 * (i + j));
    }
    const v128_t dw = load_finite_f16x4(&b[i].d, &b[i + 1].d, &b[i + 2].d, &b[i + 3].d);
    for (int t = 0; t < kTokens; ++t) {
      const v128_t sums = transpose_sum(s[t][0], s[t][1], s[t][2], s[t][3]);
      acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(sums),
                                                     wasm_f32x4_mul(dw, wasm_v128_load(ad[t] + i))));
    }
  }
  for (int t = 0; t < kTokens; ++t) {
    float sum = hsum(acc[t]);
    for (int64_t j = i; j < nb; ++j) {
      sum += float(hsum_i32(Policy::dot(Policy::load(b[j]), p[t] + 64 * j))) * (f16_to_f32(&b[j].d) * ad[t][j]);
    }
    out[t] = sum;
  }
}

}  // namespace kvlite::simd128
