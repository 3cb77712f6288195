// The k-quants: 256-value super-blocks of 16 or 32-value sub-blocks whose
// scales are themselves quantized against one or two fp16 super-block
// scales. Q8_K is their activation type.
//
// Each type has an accessor for the code of element e (0..255) and its
// inverse; the bit-packing of every format lives in those few lines, and the
// dequantizer, the quantizer and the dot product are written in terms of them.
// Dot products sum integers per sub-block and scale once per super-block.
#include <cstring>

#include "types/blocks.h"
#include "types/quant_math.h"
#include "types/type_kernels.h"
#include "util/fp16.h"

namespace kvlite::kernels {
namespace {

// ---- Bit layouts -----------------------------------------------------------
// Q2_K / Q3_K: 128-value halves; within a half, 32-value group g takes bits
// 2g..2g+1 of the half's 32 bytes.
int q2_code(const uint8_t* qs, int e) {
  return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}
void set_q2_code(uint8_t* qs, int e, int code) {
  qs[(e / 128) * 32 + e % 32] |= uint8_t(code << (2 * ((e % 128) / 32)));
}

// Q3_K's third bit: bit e/32 of byte e%32.
int q3_high_bit(const uint8_t* hmask, int e) { return (hmask[e % 32] >> (e / 32)) & 1; }

// Q4_K / Q5_K: 64-value chunks; a chunk's 32 bytes hold its first 32 values
// in the low nibbles and the next 32 in the high nibbles.
int q4k_nibble(const uint8_t* qs, int e) {
  const uint8_t byte = qs[(e / 64) * 32 + e % 32];
  return (e % 64) < 32 ? (byte & 0x0f) : (byte >> 4);
}
void set_q4k_nibble(uint8_t* qs, int e, int code) {
  qs[(e / 64) * 32 + e % 32] |= uint8_t((e % 64) < 32 ? code : code << 4);
}

// Q5_K's fifth bit: bit e/32 of byte e%32.
int q5k_high_bit(const uint8_t* qh, int e) { return (qh[e % 32] >> (e / 32)) & 1; }

// Q6_K: 128-value halves split in four 32-value quarters k. Quarters 0,1 use
// the low nibbles of ql bytes 0..31 and 32..63, quarters 2,3 the high nibbles;
// qh byte l carries the two high bits of quarter k at bits 2k..2k+1.
int q6_code(const uint8_t* ql, const uint8_t* qh, int e) {
  const int half = e / 128, k = (e % 128) / 32, l = e % 32;
  const uint8_t low = ql[half * 64 + (k & 1) * 32 + l];
  const int nibble = k < 2 ? (low & 0x0f) : (low >> 4);
  const int high = (qh[half * 32 + l] >> (2 * k)) & 3;
  return nibble | (high << 4);
}
void set_q6_code(uint8_t* ql, uint8_t* qh, int e, int code) {
  const int half = e / 128, k = (e % 128) / 32, l = e % 32;
  ql[half * 64 + (k & 1) * 32 + l] |= uint8_t(k < 2 ? (code & 0x0f) : (code & 0x0f) << 4);
  qh[half * 32 + l] |= uint8_t((code >> 4) << (2 * k));
}

// Signed code of each format (the value before the sub-block scale).
int code_q2_k(const BlockQ2_K& b, int e) { return q2_code(b.qs, e); }
int code_q3_k(const BlockQ3_K& b, int e) {
  return q2_code(b.qs, e) - (q3_high_bit(b.hmask, e) ? 0 : 4);
}
int code_q4_k(const BlockQ4_K& b, int e) { return q4k_nibble(b.qs, e); }
int code_q5_k(const BlockQ5_K& b, int e) {
  return q4k_nibble(b.qs, e) | (q5k_high_bit(b.qh, e) << 4);
}
int code_q6_k(const BlockQ6_K& b, int e) { return q6_code(b.ql, b.qh, e) - 32; }

// ---- Sub-block fitting -----------------------------------------------------

// A sub-block's fitted x ~ scale * q + offset, q in 0..nmax, offset <= 0
// (the formats subtract a non-negative min).
struct ScaleMin {
  float scale = 0.0f;
  float offset = 0.0f;
};

float squared_error(const float* x, int n, ScaleMin f, int nmax) {
  const float id = inverse_or_zero(f.scale);
  float err = 0.0f;
  for (int j = 0; j < n; ++j) {
    const int q = round_clamped((x[j] - f.offset) * id, 0, nmax);
    const float e = x[j] - (f.scale * float(q) + f.offset);
    err += e * e;
  }
  return err;
}

// Least-squares scale and offset for the codes that `iscale` assigns.
ScaleMin refit(const float* x, int n, float lo, float iscale, int nmax) {
  float sq = 0, sx = 0, sqq = 0, sqx = 0;
  for (int j = 0; j < n; ++j) {
    const float q = float(round_clamped((x[j] - lo) * iscale, 0, nmax));
    sq += q; sx += x[j]; sqq += q * q; sqx += q * x[j];
  }
  const float det = float(n) * sqq - sq * sq;
  ScaleMin f;
  if (det > 0.0f) {
    f.scale = (float(n) * sqx - sq * sx) / det;
    f.offset = (sx - f.scale * sq) / float(n);
  }
  if (f.offset > 0.0f || f.scale <= 0.0f) {  // offset must stay <= 0
    f.offset = 0.0f;
    f.scale = sqq > 0.0f ? sqx / sqq : 0.0f;
  }
  return f;
}

// Min/max fit, then a small search around it: stretching the grid slightly
// and refitting often beats plain min/max noticeably at 2-4 bits. Writes the
// sub-block's scale and min (the offset negated, >= 0).
//
// The results go through out-pointers rather than a returned ScaleMin on
// purpose: Emscripten's clang 14 with -msimd128 miscompiled the caller's loop
// (its SLP vectorizer read the first call's returned offset after the fourth
// call had overwritten it), which the wasm unit tests caught.
void fit_scale_min(const float* x, int n, int nmax, float* scale, float* min) {
  float lo = 0.0f, hi = x[0];
  for (int j = 0; j < n; ++j) {
    lo = std::fmin(lo, x[j]);
    hi = std::fmax(hi, x[j]);
  }
  ScaleMin best{(hi - lo) / float(nmax), lo};
  if (hi > lo) {
    float best_err = squared_error(x, n, best, nmax);
    for (int t = -5; t <= 10; ++t) {
      const ScaleMin f = refit(x, n, lo, (float(nmax) + 0.1f * float(t)) / (hi - lo), nmax);
      const float err = squared_error(x, n, f, nmax);
      if (f.scale > 0.0f && err < best_err) {
        best_err = err;
        best = f;
      }
    }
  }
  *scale = best.scale;
  *min = -best.offset;
}

// Symmetric fit x ~ scale * q, q in -nneg..nneg-1: the largest-magnitude value
// goes to the negative end (which has one more step), then a small search.
float fit_symmetric(const float* x, int n, int nneg) {
  const float peak = signed_abs_max(x, n);
  if (peak == 0.0f) return 0.0f;
  float best_scale = peak / -float(nneg), best_err = -1.0f;
  for (int t = -4; t <= 4; ++t) {
    const float iscale = -(float(nneg) + 0.1f * float(t)) / peak;
    float sqq = 0.0f, sqx = 0.0f;
    for (int j = 0; j < n; ++j) {
      const float q = float(round_clamped(x[j] * iscale, -nneg, nneg - 1));
      sqq += q * q;
      sqx += q * x[j];
    }
    const float scale = sqq > 0.0f ? sqx / sqq : 0.0f;
    float err = 0.0f;
    for (int j = 0; j < n; ++j) {
      const float q = float(round_clamped(x[j] * inverse_or_zero(scale), -nneg, nneg - 1));
      err += (x[j] - scale * q) * (x[j] - scale * q);
    }
    if (best_err < 0.0f || err < best_err) {
      best_err = err;
      best_scale = scale;
    }
  }
  return best_scale;
}

// Quantizes sub-block scales (>= 0) against one super-block scale with
// `levels` steps; returns the super-block scale, fills the integer scales.
float quantize_scales(const float* scales, int count, int levels, uint8_t* out) {
  float top = 0.0f;
  for (int i = 0; i < count; ++i) top = std::fmax(top, scales[i]);
  const float d = round_through_fp16(top / float(levels));
  const float id = inverse_or_zero(d);
  for (int i = 0; i < count; ++i) out[i] = uint8_t(round_clamped(scales[i] * id, 0, levels));
  return d;
}

// Signed sub-block scales against one super-block scale, codes in
// -nneg..nneg-1; returns the super-block scale.
float quantize_signed_scales(const float* scales, int count, int nneg, int* out) {
  const float d = round_through_fp16(signed_abs_max(scales, count) / -float(nneg));
  const float id = inverse_or_zero(d);
  for (int i = 0; i < count; ++i) out[i] = round_clamped(scales[i] * id, -nneg, nneg - 1);
  return d;
}

// Code for x on the grid step*q - offset, clamped to lo..hi.
int grid_code(float x, float step, float offset, int lo, int hi) {
  return round_clamped((x + offset) * inverse_or_zero(step), lo, hi);
}

// Sum over elements first..first+len-1 of weight code times activation code.
template <class Block, class CodeFn>
int sub_block_dot(const Block& w, const BlockQ8_K& a, int first, int len, CodeFn code) {
  int sum = 0;
  for (int e = first; e < first + len; ++e) sum += code(w, e) * a.qs[e];
  return sum;
}

}  // namespace

// ---- Q8_K ------------------------------------------------------------------

void to_float_q8_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ8_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    for (int e = 0; e < kQK_K; ++e) dst[e] = b[i].d * float(b[i].qs[e]);
  }
}

// d is a plain float here: activations need no fp16 rounding of their scale.
void from_float_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    const float peak = signed_abs_max(src, kQK_K);
    const float iscale = peak != 0.0f ? -127.0f / peak : 0.0f;
    for (int e = 0; e < kQK_K; ++e) {
      b[i].qs[e] = int8_t(round_clamped(src[e] * iscale, -127, 127));
    }
    for (int g = 0; g < kQK_K / 16; ++g) {
      int sum = 0;
      for (int e = 16 * g; e < 16 * g + 16; ++e) sum += b[i].qs[e];
      b[i].bsums[g] = int16_t(sum);
    }
    b[i].d = inverse_or_zero(iscale);
  }
}

// ---- Q2_K ------------------------------------------------------------------

void to_float_q2_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ2_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = fp16_to_f32(b[i].d), dmin = fp16_to_f32(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const uint8_t sm = b[i].scales[e / 16];
      dst[e] = d * float(sm & 0x0f) * float(code_q2_k(b[i], e)) - dmin * float(sm >> 4);
    }
  }
}

void from_float_q2_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ2_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float scales[16], mins[16];
    for (int s = 0; s < 16; ++s) fit_scale_min(src + 16 * s, 16, 3, &scales[s], &mins[s]);
    uint8_t sc[16], mq[16];
    const float d = quantize_scales(scales, 16, 15, sc);
    const float dmin = quantize_scales(mins, 16, 15, mq);
    std::memset(&b[i], 0, sizeof(BlockQ2_K));
    b[i].d = f32_to_fp16(d);
    b[i].dmin = f32_to_fp16(dmin);
    for (int s = 0; s < 16; ++s) b[i].scales[s] = uint8_t(sc[s] | (mq[s] << 4));
    for (int e = 0; e < kQK_K; ++e) {
      const int s = e / 16;
      set_q2_code(b[i].qs, e, grid_code(src[e], d * sc[s], dmin * mq[s], 0, 3));
    }
  }
}

float vec_dot_q2_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ2_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int scaled = 0, mins = 0;
    for (int s = 0; s < 16; ++s) {
      const uint8_t sm = w[i].scales[s];
      scaled += (sm & 0x0f) * sub_block_dot(w[i], a[i], 16 * s, 16, code_q2_k);
      mins += (sm >> 4) * a[i].bsums[s];
    }
    sum += a[i].d * (fp16_to_f32(w[i].d) * float(scaled) - fp16_to_f32(w[i].dmin) * float(mins));
  }
  return sum;
}

// ---- Q3_K ------------------------------------------------------------------

void to_float_q3_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ3_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) {
      dst[e] = d * float(unpack_q3_k_scale(e / 16, b[i].scales)) * float(code_q3_k(b[i], e));
    }
  }
}

void from_float_q3_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ3_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float scales[16];
    for (int s = 0; s < 16; ++s) scales[s] = fit_symmetric(src + 16 * s, 16, 4);
    int sc[16];
    const float d = quantize_signed_scales(scales, 16, 32, sc);
    std::memset(&b[i], 0, sizeof(BlockQ3_K));
    b[i].d = f32_to_fp16(d);
    for (int s = 0; s < 16; ++s) pack_q3_k_scale(s, uint8_t(sc[s] + 32), b[i].scales);
    for (int e = 0; e < kQK_K; ++e) {
      const int biased = grid_code(src[e], d * float(sc[e / 16]), 0.0f, -4, 3) + 4;
      set_q2_code(b[i].qs, e, biased & 3);
      b[i].hmask[e % 32] |= uint8_t((biased >> 2) << (e / 32));
    }
  }
}

float vec_dot_q3_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ3_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int scaled = 0;
    for (int s = 0; s < 16; ++s) {
      scaled += unpack_q3_k_scale(s, w[i].scales) * sub_block_dot(w[i], a[i], 16 * s, 16, code_q3_k);
    }
    sum += a[i].d * fp16_to_f32(w[i].d) * float(scaled);
  }
  return sum;
}

// ---- Q4_K and Q5_K ---------------------------------------------------------

namespace {

// Shared quantizer front half of Q4_K / Q5_K: fits the 8 sub-blocks and packs
// their 6-bit scales and mins. Returns the per-sub-block step and offset.
void quantize_k_scales(const float* x, int nmax, uint16_t* d_out, uint16_t* dmin_out,
                       uint8_t* packed, float* step, float* offset) {
  float scales[8], mins[8];
  for (int s = 0; s < 8; ++s) fit_scale_min(x + 32 * s, 32, nmax, &scales[s], &mins[s]);
  uint8_t sc[8], mq[8];
  const float d = quantize_scales(scales, 8, 63, sc);
  const float dmin = quantize_scales(mins, 8, 63, mq);
  *d_out = f32_to_fp16(d);
  *dmin_out = f32_to_fp16(dmin);
  for (int s = 0; s < 8; ++s) {
    pack_k_scale_min(s, sc[s], mq[s], packed);
    step[s] = d * float(sc[s]);
    offset[s] = dmin * float(mq[s]);
  }
}

// Dequantizes one Q4_K / Q5_K super-block given its code accessor.
template <class Block, class CodeFn>
void to_float_k(const Block& b, float* dst, CodeFn code) {
  const float d = fp16_to_f32(b.d), dmin = fp16_to_f32(b.dmin);
  for (int s = 0; s < 8; ++s) {
    uint8_t sc, m;
    unpack_k_scale_min(s, b.scales, &sc, &m);
    const float step = d * float(sc), offset = dmin * float(m);
    for (int e = 32 * s; e < 32 * s + 32; ++e) dst[e] = step * float(code(b, e)) - offset;
  }
}

// Dot product of one Q4_K / Q5_K super-block with its Q8_K activations.
template <class Block, class CodeFn>
float dot_k(const Block& w, const BlockQ8_K& a, CodeFn code) {
  int scaled = 0, mins = 0;
  for (int s = 0; s < 8; ++s) {
    uint8_t sc, m;
    unpack_k_scale_min(s, w.scales, &sc, &m);
    scaled += sc * sub_block_dot(w, a, 32 * s, 32, code);
    mins += m * (a.bsums[2 * s] + a.bsums[2 * s + 1]);
  }
  return a.d * (fp16_to_f32(w.d) * float(scaled) - fp16_to_f32(w.dmin) * float(mins));
}

}  // namespace

void to_float_q4_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ4_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) to_float_k(b[i], dst + i * kQK_K, code_q4_k);
}

void from_float_q4_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ4_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    std::memset(&b[i], 0, sizeof(BlockQ4_K));
    float step[8], offset[8];
    quantize_k_scales(src, 15, &b[i].d, &b[i].dmin, b[i].scales, step, offset);
    for (int e = 0; e < kQK_K; ++e) {
      set_q4k_nibble(b[i].qs, e, grid_code(src[e], step[e / 32], offset[e / 32], 0, 15));
    }
  }
}

float vec_dot_q4_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_k(w[i], a[i], code_q4_k);
  return sum;
}

void to_float_q5_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ5_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i) to_float_k(b[i], dst + i * kQK_K, code_q5_k);
}

void from_float_q5_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ5_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    std::memset(&b[i], 0, sizeof(BlockQ5_K));
    float step[8], offset[8];
    quantize_k_scales(src, 31, &b[i].d, &b[i].dmin, b[i].scales, step, offset);
    for (int e = 0; e < kQK_K; ++e) {
      const int code = grid_code(src[e], step[e / 32], offset[e / 32], 0, 31);
      set_q4k_nibble(b[i].qs, e, code & 0x0f);
      b[i].qh[e % 32] |= uint8_t((code >> 4) << (e / 32));
    }
  }
}

float vec_dot_q5_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_k(w[i], a[i], code_q5_k);
  return sum;
}

// ---- Q6_K ------------------------------------------------------------------

void to_float_q6_k(const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const BlockQ6_K*>(src);
  for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
    const float d = fp16_to_f32(b[i].d);
    for (int e = 0; e < kQK_K; ++e) {
      dst[e] = d * float(b[i].scales[e / 16]) * float(code_q6_k(b[i], e));
    }
  }
}

void from_float_q6_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ6_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    float scales[16];
    for (int s = 0; s < 16; ++s) scales[s] = fit_symmetric(src + 16 * s, 16, 32);
    int sc[16];
    const float d = quantize_signed_scales(scales, 16, 128, sc);
    std::memset(&b[i], 0, sizeof(BlockQ6_K));
    b[i].d = f32_to_fp16(d);
    for (int s = 0; s < 16; ++s) b[i].scales[s] = int8_t(sc[s]);
    for (int e = 0; e < kQK_K; ++e) {
      const int code = grid_code(src[e], d * float(sc[e / 16]), 0.0f, -32, 31) + 32;
      set_q6_code(b[i].ql, b[i].qh, e, code);
    }
  }
}

float vec_dot_q6_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ6_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    int scaled = 0;
    for (int s = 0; s < 16; ++s) {
      scaled += w[i].scales[s] * sub_block_dot(w[i], a[i], 16 * s, 16, code_q6_k);
    }
    sum += a[i].d * fp16_to_f32(w[i].d) * float(scaled);
  }
  return sum;
}

}  // namespace kvlite::kernels
