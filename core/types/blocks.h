// Quantized block layouts, byte for byte as ggml writes them into GGUF files.
// Every field is little-endian on disk; kvlite targets only little-endian
// machines (x86, ARM, WebAssembly), so the structs are read in place.
// Half-precision fields are raw IEEE binary16 bits (see util/fp16.h).
#pragma once

#include <cstdint>

namespace kvlite {

constexpr int kQK = 32;    // values per block of the "legacy" quants
constexpr int kQK_K = 256; // values per super-block of the k-quants
constexpr int kKScaleBytes = 12;  // packed 6-bit scales and mins of Q4_K / Q5_K

// x = d * (q - 8); q is a nibble. Byte j holds element j in its low nibble and
// element j + 16 in its high nibble.
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// x = d * q + m.
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};

// x = d * (q - 16); q is 5 bits: nibble as in Q4_0, bit 4 of element j is
// bit j of qh (qh read as a little-endian uint32).
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q + m, q as in Q5_0.
struct BlockQ5_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qh[4];
  uint8_t qs[kQK / 2];
};

// x = d * q.
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};

// Activation type for Q4_1 / Q5_1: s = d * sum(qs) lets the dot product add
// the weights' min term without touching the values again.
struct BlockQ8_1 {
  uint16_t d;
  uint16_t s;
  int8_t qs[kQK];
};

// x = d * kIQ4NLValues[q]; nibbles ordered as in Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK / 2];
};

// 16 sub-blocks of 16. scales[i]: low nibble scale, high nibble min, both
// multiplied by the super-block d / dmin. x = d*sc*q - dmin*m, q 2 bits.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];
  uint16_t d;
  uint16_t dmin;
};

// 16 sub-blocks of 16 with signed 6-bit scales (stored +32, packed in 12
// bytes). q is 2 low bits from qs plus a high bit from hmask; the value is
// q - 4 when the high bit is clear. x = d * (sc - 32) * (q - 4*!hbit).
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};

// 8 sub-blocks of 32, 6-bit scale and min each. x = d*sc*q - dmin*m.
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qs[kQK_K / 2];
};

// Q4_K plus a fifth bit per value in qh.
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleBytes];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};

// 16 sub-blocks of 16 with int8 scales. q is 6 bits: 4 from ql, 2 from qh.
// x = d * sc * (q - 32).
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};

// Activation type for the k-quants; bsums[i] = sum of qs[16i .. 16i+15]
// lets the min terms be computed from 16 numbers instead of 256.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockIQ4_NL) == 18);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// IQ4_NL's non-linear codebook (fixed by the format).
inline constexpr int8_t kIQ4NLValues[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

// Scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block: j < 4 keep
// 6 bits each in bytes j and j+4; j >= 4 keep their low 4 bits in byte j+4 and
// borrow the spare top 2 bits of bytes j-4 (scale) and j (min).
inline void unpack_k_scale_min(int j, const uint8_t* s, uint8_t* scale, uint8_t* min) {
  if (j < 4) {
    *scale = s[j] & 63;
    *min = s[j + 4] & 63;
  } else {
    *scale = uint8_t((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
    *min = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Inverse of unpack_k_scale_min; scale and min must be < 64.
inline void pack_k_scale_min(int j, uint8_t scale, uint8_t min, uint8_t* s) {
  if (j < 4) {
    s[j] = uint8_t((s[j] & 0xc0) | scale);
    s[j + 4] = uint8_t((s[j + 4] & 0xc0) | min);
  } else {
    s[j + 4] = uint8_t((scale & 0x0f) | ((min & 0x0f) << 4));
    s[j - 4] = uint8_t((s[j - 4] & 0x3f) | ((scale >> 4) << 6));
    s[j] = uint8_t((s[j] & 0x3f) | ((min >> 4) << 6));
  }
}

// Signed scale (-32..31) of sub-block j (0..15) of a Q3_K super-block: low 4
// bits from a nibble of bytes 0..7, high 2 bits from bytes 8..11.
inline int unpack_q3_k_scale(int j, const uint8_t* s) {
  const int low = j < 8 ? (s[j] & 0x0f) : (s[j - 8] >> 4);
  const int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (low | (high << 4)) - 32;
}

// Inverse of unpack_q3_k_scale; `biased` is scale + 32 (0..63). The 12 bytes
// must start zeroed.
inline void pack_q3_k_scale(int j, uint8_t biased, uint8_t* s) {
  if (j < 8) s[j] = uint8_t(s[j] | (biased & 0x0f));
  else s[j - 8] = uint8_t(s[j - 8] | ((biased & 0x0f) << 4));
  s[8 + j % 4] = uint8_t(s[8 + j % 4] | ((biased >> 4) << (2 * (j / 4))));
}

}  // namespace kvlite
