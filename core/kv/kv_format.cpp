// The KV format table and its codecs. Every quantized format of ours stores
// a head vector as [one scale per block][the d codes, bit-packed]; the
// llama.cpp-style q4_0 row keeps llama.cpp's own block layout as a baseline.
// The block layouts, levels and transforms were chosen by measuring KL
// divergence on real models (docs/kv-quality.md, "Decisions").
#include "kv/kv_format.h"

#include <array>
#include <cmath>
#include <cstring>

#include "kernels/ops.h"
#include "util/fp16.h"

namespace kvlite {

namespace {

// ---- Blocks and scales -----------------------------------------------------------
// Blocks run along the head dimension. 4-bit formats: min(16, d) values share
// a one-byte scale, so head dim 32 takes llama.cpp q4_0's 18 bytes but with
// two scales instead of one (measured: less KL than one fp16 scale per 32).
// 8-, 3- and 2-bit formats: min(32, d) values, with an fp16 scale for blocks
// of 16 or more (as llama.cpp's blocks) and one byte below that.
// The one-byte scale is 2^((code - 192) / 8), code 0 meaning an all-zero
// block: with fp16 a 4-bit vector of 8 would take 6 bits per value, the byte
// keeps it at 5 (6.4x smaller than FP32). Steps of 9% would cost accuracy if
// the code were simply rounded, so the encoders try neighbouring scales and
// keep the least squared error.
constexpr int32_t kScaleBias = 192;

struct BlockLayout {
  int32_t size;         // values per block (the last block may be shorter)
  int32_t scale_bytes;  // 1: logarithmic byte; 2: fp16
};

BlockLayout block_layout(int32_t bits, int32_t d) {
  if (bits == 4) return {d < 16 ? d : 16, 1};
  const int32_t b = d < 32 ? d : 32;
  return {b, b >= 16 ? 2 : 1};
}

// The 256 byte scales, computed once: attention decodes several per vector,
// and an exp2 each cost more than the rest of the decode.
const float* byte_scales() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int32_t code = 1; code < 256; ++code) t[size_t(code)] = std::exp2(float(code - kScaleBias) * 0.125f);
    return t;
  }();
  return table.data();
}

float byte_scale(uint8_t code) { return byte_scales()[code]; }

int32_t nearest_scale_code(float scale) {
  const int32_t c = int32_t(std::lround(8.0f * std::log2(scale))) + kScaleBias;
  return c < 1 ? 1 : (c > 255 ? 255 : c);
}

float read_scale(const uint8_t* p, int32_t scale_bytes) {
  if (scale_bytes == 1) return byte_scale(p[0]);
  uint16_t h;
  std::memcpy(&h, p, 2);
  return fp16_to_f32(h);
}

// ---- Bit packing: codes of `bits` bits, least significant first ---------------
void pack_codes(const uint8_t* codes, int32_t n, int32_t bits, uint8_t* dst) {
  std::memset(dst, 0, size_t((n * bits + 7) / 8));
  for (int32_t i = 0; i < n; ++i) {
    const int32_t bit = i * bits;
    const uint32_t v = uint32_t(codes[i]) << (bit & 7);
    dst[bit >> 3] |= uint8_t(v);
    if ((bit & 7) + bits > 8) dst[(bit >> 3) + 1] |= uint8_t(v >> 8);
  }
}

uint32_t unpack_code(const uint8_t* src, int32_t i, int32_t bits) {
  const int32_t bit = i * bits;
  uint32_t v = src[bit >> 3];
  if ((bit & 7) + bits > 8) v |= uint32_t(src[(bit >> 3) + 1]) << 8;
  return (v >> (bit & 7)) & ((1u << bits) - 1);
}

// ---- Uniform quantizer with one scale per block --------------------------------
// Blocks with an fp16 scale use llama.cpp's trick: levels -2^(b-1) .. 2^(b-1)-1
// and a signed scale that puts the block's largest-magnitude value on the
// longer side, exactly (heavy-tailed keys keep their outlier). One-byte
// scales are positive, so those blocks use symmetric mid-rise levels,
// (code - (2^b - 1) / 2) * scale: 2 bits give +-0.5 and +-1.5 steps.
struct Levels {
  int32_t bits;
  float offset;  // code - offset = level
  int32_t max_code;
  bool signed_scale;
  float top() const { return signed_scale ? -offset : float(max_code) - offset; }  // level the largest value aims at
};

Levels levels_for(int32_t bits, int32_t scale_bytes) {
  const int32_t n = 1 << bits;
  if (scale_bytes == 2) return {bits, float(n / 2), n - 1, true};
  return {bits, float(n - 1) * 0.5f, n - 1, false};
}

uint8_t code_for(float x, float inv_scale, const Levels& lv) {
  // Adding the offset turns "nearest level" into "nearest integer code"; the
  // clamp keeps outliers, and NaN (which fails both compares), in range.
  const float c = std::nearbyint(x * inv_scale + lv.offset);
  return uint8_t(c >= 0.0f ? (c <= float(lv.max_code) ? c : float(lv.max_code)) : 0.0f);
}

float abs_max(const float* x, int32_t n) {
  float amax = 0;
  for (int32_t i = 0; i < n; ++i) amax = std::fabs(x[i]) > amax ? std::fabs(x[i]) : amax;
  return amax;
}

float block_error(const float* x, int32_t n, float scale, const Levels& lv) {
  const float inv = 1.0f / scale;
  float err = 0;
  for (int32_t i = 0; i < n; ++i) {
    const float r = x[i] - (float(code_for(x[i], inv, lv)) - lv.offset) * scale;
    err += r * r;
  }
  return err;
}

// Chooses and writes the scale of one block (returns it as stored): the
// nearest to amax / top and a few smaller ones (clipping the largest value a
// little can lower the error), keeping the least squared error.
float choose_scale(const float* x, int32_t n, int32_t scale_bytes, const Levels& lv, uint8_t* dst) {
  const float amax = abs_max(x, n);
  if (!(amax > 0.0f) || !std::isfinite(amax)) {
    std::memset(dst, 0, size_t(scale_bytes));
    return 0.0f;
  }
  float max = 0;  // the signed value of largest magnitude
  for (int32_t i = 0; i < n; ++i) max = std::fabs(x[i]) == amax ? x[i] : max;
  float best = 0, best_err = 0;
  uint16_t best_half = 0;
  int32_t best_code = 0;
  const int32_t c0 = nearest_scale_code(amax / lv.top());
  for (int32_t k = 0; k < 5; ++k) {
    float s;
    uint16_t half = 0;
    int32_t code = 0;
    if (scale_bytes == 1) {
      code = c0 + 1 - k;
      if (code < 1 || code > 255) continue;
      s = byte_scale(uint8_t(code));
    } else {
      half = f32_to_fp16(max / lv.top() * (1.0f - 0.04f * float(k)));
      s = fp16_to_f32(half);
      if (s == 0.0f || !std::isfinite(s)) continue;
    }
    const float e = block_error(x, n, s, lv);
    if (best == 0 || e < best_err) best = s, best_err = e, best_half = half, best_code = code;
  }
  if (scale_bytes == 1) dst[0] = uint8_t(best_code);
  else std::memcpy(dst, &best_half, 2);
  return best;
}

// ---- 4-bit blocks of 16: Gaussian levels -------------------------------------------
// Rotated head vectors are close to Gaussian, and for Gaussian values the 16
// levels of least squared error crowd near zero: Lloyd-Max levels for N(0, 1),
// computed by scripts/kv-codebook (18% less expected squared error than the
// best evenly spaced levels). A block's byte scale plays the role of its standard deviation; the
// encoder tries the scales from two steps (16%) below "largest value on the
// outermost level" up to twice that and keeps the least squared error (a
// block of 16 Gaussian values peaks near 1.8 sigma, inside the outer level
// at 2.73 sigma).
// The levels are kept as integers times one step (the Lloyd-Max levels
// -2.7326 ... 2.7326 rounded to multiples of 2.7326 / 127, at most 0.011 from
// the optimum, far below the 0.25 between levels), so attention can score keys
// in 8-bit integers (kv_attention.cpp).
constexpr int8_t kQ4Levels8[16] = {-127, -96, -75, -58, -44, -31, -18, -6, 6, 18, 31, 44, 58, 75, 96, 127};
constexpr float kQ4Step = 2.7326f / 127.0f;
constexpr std::array<float, 16> kQ4Levels = [] {
  std::array<float, 16> t{};
  for (size_t i = 0; i < 16; ++i) t[i] = float(kQ4Levels8[i]) * kQ4Step;
  return t;
}();

uint8_t nearest_q4_level(float t) {
  // Counting the midpoints below t gives the nearest level; NaN counts none.
  uint8_t c = 0;
  for (int32_t i = 0; i < 15; ++i) c += uint8_t(t > 0.5f * (kQ4Levels[i] + kQ4Levels[i + 1]));
  return c;
}

float q4_levels_error(const float* x, int32_t n, float scale) {
  const float inv = 1.0f / scale;
  float err = 0;
  for (int32_t i = 0; i < n; ++i) {
    const float r = x[i] - kQ4Levels[nearest_q4_level(x[i] * inv)] * scale;
    err += r * r;
  }
  return err;
}

// Writes the block's scale byte and codes.
void encode_q4_levels(const float* x, int32_t n, uint8_t* scale_dst, uint8_t* codes) {
  const float amax = abs_max(x, n);
  int32_t best_code = 0;
  if (amax > 0.0f && std::isfinite(amax)) {
    const int32_t c0 = nearest_scale_code(amax / kQ4Levels[15]);
    float best_err = 0;
    for (int32_t code = c0 - 2; code <= c0 + 8 && code <= 255; ++code) {  // 2^(8/8): twice the scale
      if (code < 1) continue;
      const float e = q4_levels_error(x, n, byte_scale(uint8_t(code)));
      if (best_code == 0 || e < best_err) best_code = code, best_err = e;
    }
  }
  scale_dst[0] = uint8_t(best_code);
  const float inv = best_code != 0 ? 1.0f / byte_scale(uint8_t(best_code)) : 0.0f;
  for (int32_t i = 0; i < n; ++i) codes[i] = nearest_q4_level(x[i] * inv);
}

// 4-bit blocks of 16 use the Gaussian levels; shorter 4-bit blocks (head dim
// 8) keep evenly spaced ones, which measured better there.
bool uses_q4_levels(int32_t bits, const BlockLayout& bl) { return bits == 4 && bl.size >= 16; }

// Layout of a head vector: the blocks' scales, then the d codes bit-packed.
template <int32_t Bits>
size_t quant_bytes(int32_t d) {
  const BlockLayout bl = block_layout(Bits, d);
  return size_t((d + bl.size - 1) / bl.size * bl.scale_bytes) + size_t((d * Bits + 7) / 8);
}

template <int32_t Bits>
void quant_encode(const float* x, int32_t d, uint8_t* dst) {
  const BlockLayout bl = block_layout(Bits, d);
  const int32_t b = bl.size, nb = (d + b - 1) / b, sb = bl.scale_bytes;
  const Levels lv = levels_for(Bits, sb);
  uint8_t codes[kKvMaxHeadDim];
  for (int32_t blk = 0; blk < nb; ++blk) {
    const int32_t n = blk == nb - 1 ? d - blk * b : b;
    if (uses_q4_levels(Bits, bl)) {
      encode_q4_levels(x + blk * b, n, dst + blk * sb, codes + blk * b);
      continue;
    }
    const float s = choose_scale(x + blk * b, n, sb, lv, dst + blk * sb);
    const float inv = s != 0.0f ? 1.0f / s : 0.0f;
    for (int32_t i = 0; i < n; ++i) codes[blk * b + i] = code_for(x[blk * b + i], inv, lv);
  }
  if (Bits == 8) {
    for (int32_t i = 0; i < d; ++i) dst[nb * sb + i] = codes[i];
  } else {
    pack_codes(codes, d, Bits, dst + nb * sb);
  }
}

template <int32_t Bits>
void quant_decode(const uint8_t* src, int32_t d, float* out) {
  const BlockLayout bl = block_layout(Bits, d);
  const int32_t b = bl.size, nb = (d + b - 1) / b, sb = bl.scale_bytes;
  const Levels lv = levels_for(Bits, sb);
  const bool q4_levels = uses_q4_levels(Bits, bl);
  const uint8_t* codes = src + nb * sb;
  int32_t blk = 0;
  if constexpr (Bits == 4) {
    // Full blocks of 16 Gaussian-level codes: byte-aligned nibbles, low first,
    // decoded by the kernel set.
    if (q4_levels && b == 16 && d >= 16) {
      const float* table = byte_scales();
      float scales[kKvMaxHeadDim / 16];
      for (int32_t i = 0; i < d / 16; ++i) scales[i] = table[src[i]];
      lut16_decode(codes, kQ4Levels.data(), scales, out, d / 16 * 16);
      blk = d / 16;
    }
  }
  for (; blk < nb; ++blk) {
    const float s = read_scale(src + blk * sb, sb);
    const int32_t n = blk == nb - 1 ? d - blk * b : b;
    for (int32_t i = 0; i < n; ++i) {
      const int32_t j = blk * b + i;
      const uint32_t c = Bits == 8 ? codes[j] : unpack_code(codes, j, Bits);
      out[j] = (q4_levels ? kQ4Levels[c] : float(c) - lv.offset) * s;
    }
  }
}

// ---- Plain floats ----------------------------------------------------------------
size_t f32_bytes(int32_t d) { return size_t(d) * 4; }
void f32_encode(const float* x, int32_t d, uint8_t* dst) { std::memcpy(dst, x, size_t(d) * 4); }
void f32_decode(const uint8_t* src, int32_t d, float* out) { std::memcpy(out, src, size_t(d) * 4); }

size_t f16_bytes(int32_t d) { return size_t(d) * 2; }
void f16_encode(const float* x, int32_t d, uint8_t* dst) {
  for (int32_t i = 0; i < d; ++i) {
    const uint16_t h = f32_to_fp16(x[i]);
    std::memcpy(dst + 2 * i, &h, 2);
  }
}
// The kernel set's conversion (F16C, SIMD128): attention decodes every slot.
void f16_decode(const uint8_t* src, int32_t d, float* out) { fp16_to_f32_row(src, out, d); }

// ---- llama.cpp's q4_0 KV layout, as the baseline ---------------------------------
// Blocks of 32 along the head: an fp16 scale d = (signed value of largest
// magnitude) / -8, then 16 bytes whose low nibbles hold values 0..15 and high
// nibbles values 16..31, each code = x / d + 8 rounded and clamped to 0..15.
// Only defined where 32 divides the head dimension, as in llama.cpp.
size_t q4_0_bytes(int32_t d) { return size_t(d / 32) * 18; }

void q4_0_encode(const float* x, int32_t d, uint8_t* dst) {
  for (int32_t blk = 0; blk < d / 32; ++blk, x += 32, dst += 18) {
    float amax = 0, max = 0;
    for (int32_t i = 0; i < 32; ++i) {
      if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), max = x[i];
    }
    const float scale = max / -8.0f;
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    const uint16_t h = f32_to_fp16(scale);
    std::memcpy(dst, &h, 2);
    for (int32_t i = 0; i < 16; ++i) {
      float a = x[i] * inv + 8.5f, b = x[i + 16] * inv + 8.5f;
      a = a < 0.0f ? 0.0f : (a > 15.0f ? 15.0f : a);
      b = b < 0.0f ? 0.0f : (b > 15.0f ? 15.0f : b);
      dst[2 + i] = uint8_t(uint8_t(a) | (uint8_t(b) << 4));
    }
  }
}

void q4_0_decode(const uint8_t* src, int32_t d, float* out) {
  for (int32_t blk = 0; blk < d / 32; ++blk, src += 18, out += 32) {
    uint16_t h;
    std::memcpy(&h, src, 2);
    const float scale = fp16_to_f32(h);
    for (int32_t i = 0; i < 16; ++i) {
      out[i] = float(int32_t(src[2 + i] & 15) - 8) * scale;
      out[i + 16] = float(int32_t(src[2 + i] >> 4) - 8) * scale;
    }
  }
}

// Which transform the plain names use: chosen by measurement, see
// docs/kv-quality.md. 4-bit rotates at every head dim (its Gaussian levels
// assume rotated values); 8/3/2-bit only where blocks carry a byte scale.
constexpr KvTransform kDefaultTransform = KvTransform::HadamardSmallBlocks;

const KvFormatTraits kFormats[] = {
    {KvType::F32, "f32", 32, KvTransform::None, f32_bytes, f32_encode, f32_decode},
    {KvType::F16, "f16", 16, KvTransform::None, f16_bytes, f16_encode, f16_decode},
    {KvType::Q8, "q8", 8, kDefaultTransform, quant_bytes<8>, quant_encode<8>, quant_decode<8>},
    {KvType::Q4, "q4", 4, KvTransform::Hadamard, quant_bytes<4>, quant_encode<4>, quant_decode<4>},
    {KvType::Q3, "q3", 3, kDefaultTransform, quant_bytes<3>, quant_encode<3>, quant_decode<3>},
    {KvType::Q2, "q2", 2, kDefaultTransform, quant_bytes<2>, quant_encode<2>, quant_decode<2>},
    {KvType::Q4_0, "q4_0", 4, KvTransform::None, q4_0_bytes, q4_0_encode, q4_0_decode},
    {KvType::Q4Token, "q4t", 4, KvTransform::None, quant_bytes<4>, quant_encode<4>, quant_decode<4>},
    {KvType::Q4Channel, "q4c", 4, KvTransform::ChannelScale, quant_bytes<4>, quant_encode<4>, quant_decode<4>},
    {KvType::Q4Hadamard, "q4h", 4, KvTransform::Hadamard, quant_bytes<4>, quant_encode<4>, quant_decode<4>},
};

}  // namespace

const KvFormatTraits& kv_format(KvType type) {
  for (const KvFormatTraits& f : kFormats) {
    if (f.type == type) return f;
  }
  return kFormats[0];
}

const KvQ4Codebook* kv_q4_codebook(KvType type, int32_t d) {
  static const KvQ4Codebook codebook{kQ4Levels8, kQ4Step, byte_scales()};
  const BlockLayout bl = block_layout(4, d);
  const bool gaussian_nibbles = kv_format(type).decode == quant_decode<4> && uses_q4_levels(4, bl) && d % 16 == 0;
  return gaussian_nibbles ? &codebook : nullptr;
}

bool is_power_of_two(int32_t n) { return n > 0 && (n & (n - 1)) == 0; }

void hadamard_rotate(float* x, int32_t n) {
  for (int32_t len = 1; len < n; len <<= 1) {
    for (int32_t i = 0; i < n; i += len << 1) {
      for (int32_t j = i; j < i + len; ++j) {
        const float a = x[j], b = x[j + len];
        x[j] = a + b;
        x[j + len] = a - b;
      }
    }
  }
  const float norm = 1.0f / std::sqrt(float(n));
  for (int32_t i = 0; i < n; ++i) x[i] *= norm;
}

std::string_view kv_type_name(KvType type) { return kv_format(type).name; }

bool parse_kv_type(std::string_view name, KvType* type) {
  for (const KvFormatTraits& f : kFormats) {
    if (name == f.name) {
      *type = f.type;
      return true;
    }
  }
  return false;
}

}  // namespace kvlite
