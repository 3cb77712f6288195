// Small numeric helpers shared by the quantizers.
#pragma once

#include <cmath>
#include <cstdint>

#include "util/fp16.h"

namespace kvlite::kernels {

// x rounded half away from zero (as roundf) and clamped to lo..hi. Clamping
// happens in float first, so huge values, infinities and NaN (which goes to
// lo) never reach an out-of-range conversion.
inline int round_clamped(float x, int lo, int hi) {
  if (!(x > float(lo))) return lo;
  if (x >= float(hi)) return hi;
  return int(std::lround(x));
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
