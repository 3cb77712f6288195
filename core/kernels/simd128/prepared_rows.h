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
// four scale products at once, so lane j accumulates blocks j, j + 4, j + 8...
// A row cut at multiples of four blocks, with that vector carried from one
// span to the next (dot_span), goes through the same float operations in the
// same order: the result is the whole row's, bit for bit.
// Only included by files built with SIMD128 enabled.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/simd128/simd128_util.h"
#include "types/blocks.h"

namespace kvlite::simd128 {

template <int kTokens, class Policy>
class PreparedRows {
 public:
  // kTokens tokens' prepared rows, `stride` bytes apart, against one weight row.
  PreparedRows(int64_t n, const void* weights, const void* prepared, size_t stride)
      : b_(static_cast<const typename Policy::Block*>(weights)) {
    for (int t = 0; t < kTokens; ++t) {
      p_[t] = static_cast<const uint8_t*>(prepared) + size_t(t) * stride;
      ad_[t] = reinterpret_cast<const float*>(p_[t] + 2 * n);
    }
  }

  // Blocks from i, four at a time while four remain before b1, into acc;
  // returns the first block not taken.
  int64_t blocks(int64_t i, int64_t b1, v128_t* acc) const {
    for (; i + 4 <= b1; i += 4) {
      v128_t s[kTokens][4];
      for (int j = 0; j < 4; ++j) {
        const typename Policy::Weights w = Policy::load(b_[i + j]);
        for (int t = 0; t < kTokens; ++t) s[t][j] = Policy::dot(w, p_[t] + 64 * (i + j));
      }
      const v128_t dw = load_finite_f16x4(&b_[i].d, &b_[i + 1].d, &b_[i + 2].d, &b_[i + 3].d);
      for (int t = 0; t < kTokens; ++t) {
        const v128_t sums = transpose_sum(s[t][0], s[t][1], s[t][2], s[t][3]);
        acc[t] = wasm_f32x4_add(acc[t], wasm_f32x4_mul(wasm_f32x4_convert_i32x4(sums),
                                                       wasm_f32x4_mul(dw, wasm_v128_load(ad_[t] + i))));
      }
    }
    return i;
  }

  // Token t's result: its lanes summed, then blocks [i, nb) one at a time.
  float finish(int t, v128_t acc, int64_t i, int64_t nb) const {
    float sum = hsum(acc);
    for (; i < nb; ++i) {
      sum += float(hsum_i32(Policy::dot(Policy::load(b_[i]), p_[t] + 64 * i))) * (f16_to_f32(&b_[i].d) * ad_[t][i]);
    }
    return sum;
  }

 private:
  const typename Policy::Block* b_;
  const uint8_t* p_[kTokens];
  const float* ad_[kTokens];
};

// out[t] = the row's dot product with token t's prepared activations.
template <int kTokens, class Policy>
void dot_prepared_rows(int64_t n, const void* weights, const void* prepared, size_t stride, float* out) {
  const PreparedRows<kTokens, Policy> rows(n, weights, prepared, stride);
  v128_t acc[kTokens];
  for (int t = 0; t < kTokens; ++t) acc[t] = wasm_f32x4_splat(0.0f);
  const int64_t nb = n / kQK;
  const int64_t i = rows.blocks(0, nb, acc);
  for (int t = 0; t < kTokens; ++t) out[t] = rows.finish(t, acc[t], i, nb);
}

// Blocks [b0, b1) of one token's row into `state` (four floats, zero before
// the first span); b0 and b1 are multiples of four except b1 = n / 32, where
// the row's result is returned (and `state` no longer matters).
template <class Policy>
float dot_prepared_span(int64_t n, int64_t b0, int64_t b1, const void* weights, const void* prepared, float* state) {
  const PreparedRows<1, Policy> rows(n, weights, prepared, 0);
  v128_t acc = wasm_v128_load(state);
  const int64_t i = rows.blocks(b0, b1, &acc);
  if (b1 < n / kQK) {
    wasm_v128_store(state, acc);
    return 0.0f;
  }
  return rows.finish(0, acc, i, b1);
}

}  // namespace kvlite::simd128
