// Small numeric helpers shared by the quantizers.
#pragma once

#include <cmath>
#include <cstdint>

#include "util/fp16.h"

namespace kvlite::kernels {

// x rounded to the nearest integer (ties to even) and clamped to lo..hi.
// Clamping happens in float first, so huge values, infinities and NaN (which
// goes to lo) never reach an out-of-range conversion. The rounding adds and
// subtracts 1.5 * 2^23, which leaves no fraction bits (valid for |x| < 2^22):
// branch-free and no library call, as this sits in the quantizers' inner
// loops. It relies on strict IEEE float semantics (no -ffast-math).
inline int round_clamped(float x, int lo, int hi) {
  if (!(x > float(lo))) return lo;
  if (x >= float(hi)) return hi;
  constexpr float kRoundingBias = 12582912.0f;
  return int((x + kRoundingBias) - kRoundingBias);
}

// The value of largest magnitude, sign kept (the symmetric quantizers map it
// to their most negative code, which has one more step than the positive side).
inline float signed_abs_max(const float* x, int n) {
  float best = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > std::fabs(best)) best = x[i];
  }
  return best;
}

inline float abs_max(const float* x, int n) {
  float best = 0.0f;
  for (int i = 0; i < n; ++i) best = std::fmax(best, std::fabs(x[i]));
  return best;
}

inline float inverse_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// x as it will read back from an fp16 field, so later steps quantize against
// the scale the decoder will actually use.
inline float round_through_fp16(float x) { return fp16_to_f32(f32_to_fp16(x)); }

}  // namespace kvlite::kernels
