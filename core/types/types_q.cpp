// The 32-value block quants: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, IQ4_NL.
// Dot products follow ggml's scalar reference: integer sums inside a block,
// scaled once per block in float.
#include <cstring>

#include "types/blocks.h"
#include "types/quant_math.h"
#include "types/type_kernels.h"
#include "util/fp16.h"

namespace kvlite::kernels {
namespace {

// The 5-bit code of element j (0..31) of a Q5_0 / Q5_1 block.
int q5_code(const uint8_t* qs, const uint8_t* qh, int j) {
  uint32_t high;
  std::memcpy(&high, qh, 4);
  const int nibble = j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
  return nibble | int(((high >> j) & 1u) << 4);
}

// Writes 32 codes (0..31) into the Q5 nibble and high-bit fields.
void pack_q5(const int* codes, uint8_t* qs, uint8_t* qh) {
  uint32_t high = 0;
  for (int j = 0; j < 16; ++j) {
    qs[j] = uint8_t((codes[j] & 0x0f) | ((codes[j + 16] & 0x0f) << 4));
  }
  for (int j = 0; j < kQK; ++j) high |= uint32_t((codes[j] >> 4) & 1) << j;
  std::memcpy(qh, &high, 4);
}

// Nibble of element j (0..31): low nibbles are 0..15, high nibbles 16..31.
int q4_code(const uint8_t* qs, int j) {
  return j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4);
}

void pack_q4(const int* codes, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t(codes[j] | (codes[j + 16] << 4));
}

// Codes for an asymmetric quantizer: (x - min) / d rounded, clamped to top.
void asymmetric_codes(const float* x, float min, float d, int top, int* codes) {
  const float id = inverse_or_zero(d);
  for (int j = 0; j < kQK; ++j) {
    codes[j] = round_clamped((x[j] - min) * id, 0, top);
  }
}

// Block min and max, for the asymmetric quantizers.
void min_max(const float* x, float* lo, float* hi) {
  *lo = x[0];
  *hi = x[0];
  for (int j = 1; j < kQK; ++j) {
    *lo = std::fmin(*lo, x[j]);
    *hi = std::fmax(*hi, x[j]);
  }
}

// Symmetric codes offset by `bias`: the largest-magnitude value maps to 0.
void symmetric_codes(const float* x, float d, int bias, int* codes) {
  const float id = inverse_or_zero(d);
  for (int j = 0; j < kQK; ++j) {
    codes[j] = round_clamped(x[j] * id + float(bias), 0, 2 * bias - 1);
  }
}

// Sum of q8 over one block, used for Q8_1's s.
int sum_codes(const int8_t* qs) {
  int s = 0;
  for (int j = 0; j < kQK; ++j) s += qs[j];
  return s;
}

}  // namespace

// ---- Q4_0 ------------------------------------------------------------------

void to_float_q4_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = float(q4_code(b[i].qs, j) - 8) * d;
  }
}

void from_float_q4_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = signed_abs_max(src, kQK) / -8.0f;
    int codes[kQK];
    symmetric_codes(src, d, 8, codes);
    b[i].d = f32_to_fp16(d);
    pack_q4(codes, b[i].qs);
  }
}

float vec_dot_q4_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += (q4_code(w[i].qs, j) - 8) * a[i].qs[j];
    sum += float(isum) * fp16_to_f32(w[i].d) * fp16_to_f32(a[i].d);
  }
  return sum;
}

// ---- Q4_1 ------------------------------------------------------------------

void to_float_q4_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d);
    const float m = fp16_to_f32(b[i].m);
    for (int j = 0; j < kQK; ++j) dst[j] = float(q4_code(b[i].qs, j)) * d + m;
  }
}

void from_float_q4_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float lo, hi;
    min_max(src, &lo, &hi);
    const float d = (hi - lo) / 15.0f;
    int codes[kQK];
    asymmetric_codes(src, lo, d, 15, codes);
    b[i].d = f32_to_fp16(d);
    b[i].m = f32_to_fp16(lo);
    pack_q4(codes, b[i].qs);
  }
}

// sum(w*a) = d_w*d_a*sum(q*qa) + m_w * (d_a*sum(qa)), and the last factor is s.
float vec_dot_q4_1(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_1*>(weights);
  const auto* a = static_cast<const BlockQ8_1*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += q4_code(w[i].qs, j) * a[i].qs[j];
    sum += float(isum) * fp16_to_f32(w[i].d) * fp16_to_f32(a[i].d) +
           fp16_to_f32(w[i].m) * fp16_to_f32(a[i].s);
  }
  return sum;
}

// ---- Q5_0 ------------------------------------------------------------------

void to_float_q5_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = float(q5_code(b[i].qs, b[i].qh, j) - 16) * d;
  }
}

void from_float_q5_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = signed_abs_max(src, kQK) / -16.0f;
    int codes[kQK];
    symmetric_codes(src, d, 16, codes);
    b[i].d = f32_to_fp16(d);
    pack_q5(codes, b[i].qs, b[i].qh);
  }
}

float vec_dot_q5_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += (q5_code(w[i].qs, w[i].qh, j) - 16) * a[i].qs[j];
    sum += float(isum) * fp16_to_f32(w[i].d) * fp16_to_f32(a[i].d);
  }
  return sum;
}

// ---- Q5_1 ------------------------------------------------------------------

void to_float_q5_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d);
    const float m = fp16_to_f32(b[i].m);
    for (int j = 0; j < kQK; ++j) dst[j] = float(q5_code(b[i].qs, b[i].qh, j)) * d + m;
  }
}

void from_float_q5_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    float lo, hi;
    min_max(src, &lo, &hi);
    const float d = (hi - lo) / 31.0f;
    int codes[kQK];
    asymmetric_codes(src, lo, d, 31, codes);
    b[i].d = f32_to_fp16(d);
    b[i].m = f32_to_fp16(lo);
    pack_q5(codes, b[i].qs, b[i].qh);
  }
}

float vec_dot_q5_1(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_1*>(weights);
  const auto* a = static_cast<const BlockQ8_1*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += q5_code(w[i].qs, w[i].qh, j) * a[i].qs[j];
    sum += float(isum) * fp16_to_f32(w[i].d) * fp16_to_f32(a[i].d) +
           fp16_to_f32(w[i].m) * fp16_to_f32(a[i].s);
  }
  return sum;
}

// ---- Q8_0 and Q8_1 ---------------------------------------------------------

namespace {
// Shared by Q8_0 and Q8_1: returns the scale, fills 32 codes.
float quantize_q8_block(const float* x, int8_t* qs) {
  const float d = abs_max(x, kQK) / 127.0f;
  const float id = inverse_or_zero(d);
  for (int j = 0; j < kQK; ++j) qs[j] = int8_t(round_clamped(x[j] * id, -127, 127));
  return d;
}
}  // namespace

void to_float_q8_0(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_0*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = float(b[i].qs[j]) * d;
  }
}

void from_float_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    b[i].d = f32_to_fp16(quantize_q8_block(src, b[i].qs));
  }
}

float vec_dot_q8_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ8_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += w[i].qs[j] * a[i].qs[j];
    sum += float(isum) * fp16_to_f32(w[i].d) * fp16_to_f32(a[i].d);
  }
  return sum;
}

void to_float_q8_1(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_1*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = float(b[i].qs[j]) * d;
  }
}

void from_float_q8_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = quantize_q8_block(src, b[i].qs);
    b[i].d = f32_to_fp16(d);
    b[i].s = f32_to_fp16(d * float(sum_codes(b[i].qs)));
  }
}

// ---- IQ4_NL ----------------------------------------------------------------

namespace {

// Index of the codebook entry nearest to v: a binary search over the
// midpoints between neighbouring entries (the codebook is sorted).
int nearest_iq4nl(float v) {
  int lo = 0, hi = 15;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    const float between = 0.5f * float(kIQ4NLValues[mid] + kIQ4NLValues[mid + 1]);
    if (v > between) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Assigns codes for the inverse scale `id` and returns the least-squares
// scale for them. Its squared error is sum(x^2) - sum(xq)^2 / sum(q^2), so
// `*gain` = sum(xq)^2 / sum(q^2) ranks candidates (larger is better).
float fit_iq4nl(const float* x, float id, int* codes, float* gain) {
  float sum_xq = 0.0f, sum_qq = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    codes[j] = nearest_iq4nl(x[j] * id);
    const float q = kIQ4NLValues[codes[j]];
    sum_xq += x[j] * q;
    sum_qq += q * q;
  }
  *gain = sum_qq > 0.0f ? sum_xq * sum_xq / sum_qq : 0.0f;
  return sum_qq > 0.0f ? sum_xq / sum_qq : 0.0f;
}

}  // namespace

void to_float_iq4_nl(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockIQ4_NL*>(src);
  for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
    const float d = fp16_to_f32(b[i].d);
    for (int j = 0; j < kQK; ++j) dst[j] = float(kIQ4NLValues[q4_code(b[i].qs, j)]) * d;
  }
}

// The codebook is not uniform, so the best scale is searched: the largest
// value is tried against a few codebook magnitudes near the ends and the
// scale with the smallest squared error wins.
void from_float_iq4_nl(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockIQ4_NL*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float peak = signed_abs_max(src, kQK);
    int codes[kQK], best_codes[kQK] = {};
    float best_d = 0.0f, best_gain = -1.0f;
    for (int step = -7; step <= 7 && peak != 0.0f; ++step) {
      float gain;
      const float d = fit_iq4nl(src, (-127.0f + 2.0f * float(step)) / peak, codes, &gain);
      if (gain > best_gain) {
        best_gain = gain;
        best_d = d;
        std::memcpy(best_codes, codes, sizeof codes);
      }
    }
    b[i].d = f32_to_fp16(best_d);
    pack_q4(best_codes, b[i].qs);
  }
}

float vec_dot_iq4_nl(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockIQ4_NL*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK; ++i) {
    int isum = 0;
    for (int j = 0; j < kQK; ++j) isum += kIQ4NLValues[q4_code(w[i].qs, j)] * a[i].qs[j];
    sum += float(isum) * fp16_to_f32(w[i].d) * fp16_to_f32(a[i].d);
  }
  return sum;
}

}  // namespace kvlite::kernels
