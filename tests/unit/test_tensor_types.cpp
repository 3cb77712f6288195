// The tensor type table and its scalar reference kernels: on-disk sizes,
// hand-built blocks with known values, quantization error bounds, dot
// products against the float dot of the dequantized operands, edge values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "types/blocks.h"
#include "types/tensor_type.h"
#include "util/fp16.h"

namespace kvlite {
namespace {

using T = TensorType;

const TypeTraits& row(T type) {
  const TypeTraits* t = type_traits(type);
  EXPECT_NE(t, nullptr) << uint32_t(type);
  return *t;
}

std::vector<uint8_t> quantize(T type, const std::vector<float>& x) {
  const TypeTraits& t = row(type);
  std::vector<uint8_t> bytes(row_bytes(t, int64_t(x.size())));
  t.from_float(x.data(), bytes.data(), int64_t(x.size()));
  return bytes;
}

std::vector<float> dequantize(T type, const void* bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  row(type).to_float(bytes, out.data(), n);
  return out;
}

std::vector<float> random_normal(size_t n, uint32_t seed, float sigma = 1.0f, float mean = 0.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(mean, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// Every type kvlite reads, with the numbers ggml writes to disk.
struct Expected {
  T type;
  const char* name;
  int64_t block_size;
  size_t block_bytes;
  T vec_dot_type;
  bool has_vec_dot;
};

const Expected kExpected[] = {
    {T::F32, "F32", 1, 4, T::F32, true},
    {T::F16, "F16", 1, 2, T::F32, true},
    {T::BF16, "BF16", 1, 2, T::F32, true},
    {T::Q4_0, "Q4_0", 32, 18, T::Q8_0, true},
    {T::Q4_1, "Q4_1", 32, 20, T::Q8_1, true},
    {T::Q5_0, "Q5_0", 32, 22, T::Q8_0, true},
    {T::Q5_1, "Q5_1", 32, 24, T::Q8_1, true},
    {T::Q8_0, "Q8_0", 32, 34, T::Q8_0, true},
    {T::Q8_1, "Q8_1", 32, 36, T::Q8_1, false},
    {T::IQ4_NL, "IQ4_NL", 32, 18, T::Q8_0, true},
    {T::Q2_K, "Q2_K", 256, 84, T::Q8_K, true},
    {T::Q3_K, "Q3_K", 256, 110, T::Q8_K, true},
    {T::Q4_K, "Q4_K", 256, 144, T::Q8_K, true},
    {T::Q5_K, "Q5_K", 256, 176, T::Q8_K, true},
    {T::Q6_K, "Q6_K", 256, 210, T::Q8_K, true},
    {T::Q8_K, "Q8_K", 256, 292, T::Q8_K, false},
};

// ---- The table -------------------------------------------------------------

TEST(TensorTypes, EveryRowMatchesTheOnDiskLayout) {
  for (const Expected& e : kExpected) {
    SCOPED_TRACE(e.name);
    const TypeTraits* t = type_traits(uint32_t(e.type));
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->type, e.type);
    EXPECT_STREQ(t->name, e.name);
    EXPECT_EQ(type_name(uint32_t(e.type)), e.name);
    EXPECT_EQ(t->block_size, e.block_size);
    EXPECT_EQ(t->block_bytes, e.block_bytes);
    EXPECT_EQ(t->vec_dot_type, e.vec_dot_type);
    EXPECT_EQ(t->vec_dot != nullptr, e.has_vec_dot);
    EXPECT_NE(t->to_float, nullptr);
    EXPECT_NE(t->from_float, nullptr);
  }
}

TEST(TensorTypes, ActivationTypesAreRowsThemselves) {
  for (const Expected& e : kExpected) {
    const TypeTraits* act = type_traits(e.vec_dot_type);
    ASSERT_NE(act, nullptr) << e.name;
    EXPECT_NE(act->from_float, nullptr) << e.name;
  }
}

TEST(TensorTypes, UnknownIdsHaveNoRow) {
  // 4 and 5 were Q4_2 / Q4_3 (removed), 16 is IQ2_XXS (not supported).
  for (uint32_t id : {4u, 5u, 16u, 31u, 99u, 1000000u}) {
    EXPECT_EQ(type_traits(id), nullptr) << id;
    EXPECT_EQ(type_traits(TensorType(id)), nullptr) << id;
  }
  EXPECT_EQ(type_name(42), "type 42");
  EXPECT_EQ(type_name(4), "type 4");
}

TEST(TensorTypes, RowBytes) {
  EXPECT_EQ(row_bytes(row(T::F32), 7), 28u);
  EXPECT_EQ(row_bytes(row(T::F16), 3), 6u);
  EXPECT_EQ(row_bytes(row(T::Q8_0), 4096), 128u * 34);
  EXPECT_EQ(row_bytes(row(T::Q4_K), 4096), 16u * 144);
  EXPECT_EQ(row_bytes(row(T::Q6_K), 256), 210u);
  EXPECT_EQ(row_bytes(row(T::IQ4_NL), 64), 36u);
  EXPECT_EQ(row_bytes(row(T::Q8_K), 0), 0u);
}

// ---- Hand-built blocks: 32-value quants --------------------------------------

TEST(HandBuilt, Q4_0LowNibblesFirst) {
  BlockQ4_0 b{};
  b.d = f32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  const std::vector<float> y = dequantize(T::Q4_0, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], float(j - 8) * 0.5f) << j;
    EXPECT_EQ(y[j + 16], float(15 - j - 8) * 0.5f) << j;
  }
}

TEST(HandBuilt, Q4_1AddsTheMin) {
  BlockQ4_1 b{};
  b.d = f32_to_fp16(0.25f);
  b.m = f32_to_fp16(-1.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  const std::vector<float> y = dequantize(T::Q4_1, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], float(j) * 0.25f - 1.5f) << j;
    EXPECT_EQ(y[j + 16], float(15 - j) * 0.25f - 1.5f) << j;
  }
}

// qh is a little-endian uint32 whose bit j is bit 4 of element j.
TEST(HandBuilt, Q5_0HighBits) {
  BlockQ5_0 b{};
  b.d = f32_to_fp16(1.0f);
  const uint32_t qh = 0xF0F0A5C3u;
  std::memcpy(b.qh, &qh, 4);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  const std::vector<float> y = dequantize(T::Q5_0, &b, 32);
  for (int j = 0; j < 32; ++j) {
    const int nibble = j < 16 ? j : 15 - (j - 16);
    const int code = nibble + 16 * int((qh >> j) & 1);
    EXPECT_EQ(y[j], float(code - 16)) << j;
  }
}

TEST(HandBuilt, Q5_1HighBitsAndMin) {
  BlockQ5_1 b{};
  b.d = f32_to_fp16(0.5f);
  b.m = f32_to_fp16(2.0f);
  b.qh[0] = 0x01;  // element 0
  b.qh[2] = 0x80;  // element 23
  b.qh[3] = 0x80;  // element 31
  b.qs[0] = 0x21;  // element 0: 1, element 16: 2
  b.qs[7] = 0xf0;  // element 7: 0, element 23: 15
  b.qs[15] = 0xf3; // element 15: 3, element 31: 15
  const std::vector<float> y = dequantize(T::Q5_1, &b, 32);
  EXPECT_EQ(y[0], 17 * 0.5f + 2.0f);
  EXPECT_EQ(y[16], 2 * 0.5f + 2.0f);
  EXPECT_EQ(y[7], 2.0f);
  EXPECT_EQ(y[23], 31 * 0.5f + 2.0f);
  EXPECT_EQ(y[15], 3 * 0.5f + 2.0f);
  EXPECT_EQ(y[31], 31 * 0.5f + 2.0f);
  EXPECT_EQ(y[1], 2.0f);
}

TEST(HandBuilt, Q8_0AndQ8_1) {
  BlockQ8_0 b{};
  BlockQ8_1 b1{};
  b.d = b1.d = f32_to_fp16(0.125f);
  b1.s = f32_to_fp16(123.0f);  // s is not used to decode
  for (int j = 0; j < 32; ++j) b.qs[j] = b1.qs[j] = int8_t(j * 8 - 128);
  const std::vector<float> y = dequantize(T::Q8_0, &b, 32);
  const std::vector<float> y1 = dequantize(T::Q8_1, &b1, 32);
  for (int j = 0; j < 32; ++j) {
    EXPECT_EQ(y[j], float(j * 8 - 128) * 0.125f) << j;
    EXPECT_EQ(y1[j], y[j]) << j;
  }
}

TEST(HandBuilt, Q8_1SumIsDTimesSumOfCodes) {
  const std::vector<float> x = random_normal(64, 7);
  const std::vector<uint8_t> q = quantize(T::Q8_1, x);
  for (int i = 0; i < 2; ++i) {
    BlockQ8_1 b;
    std::memcpy(&b, q.data() + i * sizeof b, sizeof b);
    int sum = 0;
    for (int8_t c : b.qs) sum += c;
    EXPECT_EQ(b.s, f32_to_fp16(fp16_to_f32(b.d) * float(sum)));
  }
}

TEST(HandBuilt, IQ4_NLCodebook) {
  const int expected[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
  BlockIQ4_NL b{};
  b.d = f32_to_fp16(0.5f);
  for (int j = 0; j < 16; ++j) b.qs[j] = uint8_t(j | ((15 - j) << 4));
  const std::vector<float> y = dequantize(T::IQ4_NL, &b, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(y[j], float(expected[j]) * 0.5f) << j;
    EXPECT_EQ(y[j + 16], float(expected[15 - j]) * 0.5f) << j;
  }
}

// ---- Hand-built blocks: k-quants ---------------------------------------------
// Each test sets one scale (and min) and a few codes through the raw bytes,
// following ggml's loop nest, and checks exactly those values.

TEST(HandBuilt, Q2_KScalesAndCodes) {
  BlockQ2_K b{};
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.25f);
  for (int s = 0; s < 16; ++s) b.scales[s] = uint8_t((s % 16) | ((15 - s) << 4));
  // Byte l of half h holds, at bits 2g, the value at h*128 + g*32 + l.
  b.qs[5] = 0b11100100;        // elements 5, 37, 69, 101: codes 0, 1, 2, 3
  b.qs[32 + 20] = 0b01000000;  // element 128 + 96 + 20 = 244: code 1
  const std::vector<float> y = dequantize(T::Q2_K, &b, 256);
  auto expect = [&](int e, int code) {
    const int s = e / 16;
    EXPECT_EQ(y[e], 0.5f * float(s) * float(code) - 0.25f * float(15 - s)) << e;
  };
  expect(5, 0);
  expect(37, 1);
  expect(69, 2);
  expect(101, 3);
  expect(244, 1);
  expect(245, 0);
}

TEST(HandBuilt, Q3_KSignedScalesAndHighBit) {
  BlockQ3_K b{};
  b.d = f32_to_fp16(1.0f);
  // Sub-block 0: scale 5 (+32 = 37 = 0b100101): low nibble 5 in byte 0,
  // high bits 0b10 at bits 0-1 of byte 8. Sub-block 13: scale -3 (29 =
  // 0b011101): low nibble 13 in the high nibble of byte 5, high bits 0b01
  // at bits 6-7 of byte 9.
  b.scales[0] = 0x05;
  b.scales[8] = 0x02;
  b.scales[5] = 0xd0;
  b.scales[9] = 0x40;
  b.qs[3] = 0x03;       // element 3: low bits 3
  b.hmask[3] = 0x01;    // element 3: high bit (bit 3/32 = 0) set -> 3
  b.qs[32 + 16] = 0x08; // half 1, group 1 (bits 2-3), l = 16: element 176 -> 2
  b.hmask[16] = 0x20;   // element 176: bit 176/32 = 5 of byte 16 -> code 2
  const std::vector<float> y = dequantize(T::Q3_K, &b, 256);
  EXPECT_EQ(y[3], 5.0f * 3.0f);
  EXPECT_EQ(y[4], 5.0f * -4.0f);      // low bits 0, high bit clear
  EXPECT_EQ(y[176], -32.0f * 2.0f);   // sub-block 11: all-zero scale bits mean -32
  EXPECT_EQ(y[13 * 16], -3.0f * -4.0f);
}

TEST(HandBuilt, Q4_KSixBitScalesAndMins) {
  BlockQ4_K b{};
  b.d = f32_to_fp16(0.5f);
  b.dmin = f32_to_fp16(0.125f);
  // Sub-block 1: scale 33, min 17 in bytes 1 and 5.
  b.scales[1] = 33;
  b.scales[5] = 17;
  // Sub-block 6: scale 0b110101 (53), min 0b100111 (39): low nibbles in byte
  // 10, top two bits in bytes 2 (scale) and 6 (min).
  b.scales[10] = 0x75;
  b.scales[2] = 0xc0;
  b.scales[6] = 0x80;
  b.qs[0 * 32 + 7] = 0x90;   // element 32 + 7 (high nibble of chunk 0): 9
  b.qs[3 * 32 + 4] = 0x0b;   // element 192 + 4 (sub-block 6): 11
  const std::vector<float> y = dequantize(T::Q4_K, &b, 256);
  EXPECT_EQ(y[39], 0.5f * 33 * 9 - 0.125f * 17);
  EXPECT_EQ(y[38], -0.125f * 17);
  EXPECT_EQ(y[196], 0.5f * 53 * 11 - 0.125f * 39);
  EXPECT_EQ(y[7], 0.0f);  // sub-block 0: scale 0, min 0
}

TEST(HandBuilt, Q5_KFifthBit) {
  BlockQ5_K b{};
  b.d = f32_to_fp16(1.0f);
  b.dmin = f32_to_fp16(0.5f);
  b.scales[0] = 1;  // sub-block 0: scale 1
  b.scales[1] = 2;  // sub-block 1: scale 2
  b.scales[5] = 6;  // sub-block 1: min 6
  b.qs[9] = 0x5a;   // element 9: 10, element 41: 5
  b.qh[9] = 0x03;   // bits 0 and 1: elements 9 and 41 get +16
  b.qh[10] = 0x02;  // bit 1: element 42 gets +16 (nibble 0)
  const std::vector<float> y = dequantize(T::Q5_K, &b, 256);
  EXPECT_EQ(y[9], 26.0f);
  EXPECT_EQ(y[41], 2.0f * 21.0f - 3.0f);
  EXPECT_EQ(y[42], 2.0f * 16.0f - 3.0f);
  EXPECT_EQ(y[10], 0.0f);
}

TEST(HandBuilt, Q6_KQuarters) {
  BlockQ6_K b{};
  b.d = f32_to_fp16(0.5f);
  for (int s = 0; s < 16; ++s) b.scales[s] = int8_t(s - 8);
  // Half 1, l = 17: quarters at elements 145, 177, 209, 241.
  b.ql[64 + 17] = 0x3c;       // quarter 0: 12, quarter 2: 3
  b.ql[64 + 32 + 17] = 0xa5;  // quarter 1: 5, quarter 3: 10
  b.qh[32 + 17] = 0b11100100; // high bits: q0 0, q1 1, q2 2, q3 3
  const std::vector<float> y = dequantize(T::Q6_K, &b, 256);
  auto expect = [&](int e, int code) {
    EXPECT_EQ(y[e], 0.5f * float(e / 16 - 8) * float(code - 32)) << e;
  };
  expect(145, 12);
  expect(177, 5 + 16);
  expect(209, 3 + 32);
  expect(241, 10 + 48);
  expect(0, 0);
}

TEST(HandBuilt, Q8_KFloatScaleAndBsums) {
  std::vector<float> x(256);
  for (int e = 0; e < 256; ++e) x[e] = float((e % 64) - 32) * 0.01f;
  const std::vector<uint8_t> q = quantize(T::Q8_K, x);
  BlockQ8_K b;
  std::memcpy(&b, q.data(), sizeof b);
  for (int g = 0; g < 16; ++g) {
    int sum = 0;
    for (int e = 16 * g; e < 16 * g + 16; ++e) sum += b.qs[e];
    EXPECT_EQ(b.bsums[g], sum) << g;
  }
  const std::vector<float> y = dequantize(T::Q8_K, q.data(), 256);
  for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], b.d * float(b.qs[e]));
}

// ---- Round trips ---------------------------------------------------------------

struct ErrorBound {
  T type;
  float max_rel_to_block_max;  // worst |x - y| / max|x| over a block
  float rms_rel;               // RMS error / RMS of x over the row
};

// Measured on normal data, with a margin; the max bounds follow from the
// grids (e.g. Q4_0: its top code is 7/8 of the peak, so up to 1/8 + rounding).
const ErrorBound kBounds[] = {
    {T::F16, 1e-3f, 5e-4f},    {T::BF16, 8e-3f, 4e-3f},   {T::Q8_0, 0.0045f, 0.006f},
    {T::Q8_1, 0.0045f, 0.006f}, {T::Q8_K, 0.0045f, 0.008f}, {T::Q4_0, 0.13f, 0.11f},
    {T::Q4_1, 0.07f, 0.09f},   {T::Q5_0, 0.065f, 0.055f}, {T::Q5_1, 0.035f, 0.045f},
    {T::IQ4_NL, 0.13f, 0.085f}, {T::Q2_K, 0.4f, 0.3f},     {T::Q3_K, 0.25f, 0.16f},
    {T::Q4_K, 0.1f, 0.08f},     {T::Q5_K, 0.06f, 0.042f},  {T::Q6_K, 0.02f, 0.021f},
};

struct RoundTripError {
  float max_rel = 0.0f;
  float rms_rel = 0.0f;
};

RoundTripError measure(T type, const std::vector<float>& x) {
  const std::vector<uint8_t> q = quantize(type, x);
  const std::vector<float> y = dequantize(type, q.data(), int64_t(x.size()));
  const size_t block = size_t(row(type).block_size == 1 ? 32 : row(type).block_size);
  RoundTripError r;
  double err2 = 0, x2 = 0;
  for (size_t b = 0; b < x.size(); b += block) {
    float peak = 0.0f, worst = 0.0f;
    for (size_t i = b; i < b + block; ++i) {
      peak = std::fmax(peak, std::fabs(x[i]));
      worst = std::fmax(worst, std::fabs(x[i] - y[i]));
      err2 += double(x[i] - y[i]) * double(x[i] - y[i]);
      x2 += double(x[i]) * double(x[i]);
    }
    if (peak > 0.0f) r.max_rel = std::fmax(r.max_rel, worst / peak);
  }
  r.rms_rel = x2 > 0 ? float(std::sqrt(err2 / x2)) : 0.0f;
  return r;
}

TEST(RoundTrip, RandomDataWithinBounds) {
  for (const ErrorBound& bound : kBounds) {
    SCOPED_TRACE(row(bound.type).name);
    const RoundTripError r = measure(bound.type, random_normal(8192, 11));
    EXPECT_LE(r.max_rel, bound.max_rel_to_block_max);
    EXPECT_LE(r.rms_rel, bound.rms_rel);
    std::printf("  %-6s max %.4f rms %.4f\n", row(bound.type).name, r.max_rel, r.rms_rel);
  }
}

TEST(RoundTrip, F32IsExact) {
  const std::vector<float> x = random_normal(100, 3);
  EXPECT_EQ(dequantize(T::F32, quantize(T::F32, x).data(), 100), x);
}

TEST(RoundTrip, ZerosStayZero) {
  const std::vector<float> x(512, 0.0f);
  for (const ErrorBound& bound : kBounds) {
    const std::vector<float> y = dequantize(bound.type, quantize(bound.type, x).data(), 512);
    for (float v : y) ASSERT_EQ(v, 0.0f) << row(bound.type).name;
  }
}

// Scales far from 1 (but inside fp16's range for the block scale).
TEST(RoundTrip, LargeAndSmallMagnitudes) {
  for (float scale : {3000.0f, 1e-2f}) {
    std::vector<float> x = random_normal(1024, 5, scale);
    for (const ErrorBound& bound : kBounds) {
      SCOPED_TRACE(row(bound.type).name);
      const RoundTripError r = measure(bound.type, x);
      EXPECT_LE(r.max_rel, bound.max_rel_to_block_max * 1.1f) << scale;
    }
  }
}

// One large value in a block of small ones: the outlier must come back
// close (it sets the scale); the rest may round to zero.
TEST(RoundTrip, SingleOutlier) {
  for (float sign : {1.0f, -1.0f}) {
    std::vector<float> x = random_normal(512, 9, 0.01f);
    x[77] = 100.0f * sign;
    for (const ErrorBound& bound : kBounds) {
      SCOPED_TRACE(row(bound.type).name);
      const std::vector<float> y = dequantize(bound.type, quantize(bound.type, x).data(), 512);
      EXPECT_NEAR(y[77], x[77], 100.0f * bound.max_rel_to_block_max);
      for (float v : y) EXPECT_TRUE(std::isfinite(v));
    }
  }
}

TEST(RoundTrip, NegativeOnlyRows) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> dist(-2.0f, -1.0f);
  std::vector<float> x(1024);
  for (float& v : x) v = dist(rng);
  for (const ErrorBound& bound : kBounds) {
    SCOPED_TRACE(row(bound.type).name);
    const RoundTripError r = measure(bound.type, x);
    EXPECT_LE(r.max_rel, bound.max_rel_to_block_max);
    EXPECT_LE(r.rms_rel, bound.rms_rel);
  }
}

// Garbage in must not be undefined behaviour (the sanitizer build checks the
// float-to-int conversions); finite values in the other blocks stay exact-ish.
TEST(RoundTrip, NonFiniteInputsAreSafe) {
  std::vector<float> x = random_normal(512, 13);
  x[3] = std::numeric_limits<float>::quiet_NaN();
  x[300] = std::numeric_limits<float>::infinity();
  for (const ErrorBound& bound : kBounds) {
    SCOPED_TRACE(row(bound.type).name);
    const std::vector<float> y = dequantize(bound.type, quantize(bound.type, x).data(), 512);
    EXPECT_NEAR(y[40], x[40], 2.0f * bound.max_rel_to_block_max * 4.0f);
  }
}

// ---- F16 and BF16 edge values ------------------------------------------------------

TEST(Float16, EveryBitPatternRoundTrips) {
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const uint16_t h = uint16_t(bits);
    float f;
    row(T::F16).to_float(&h, &f, 1);
    uint16_t back;
    row(T::F16).from_float(&f, &back, 1);
    if (std::isnan(f)) {
      EXPECT_TRUE((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0) << bits;
    } else {
      ASSERT_EQ(back, h) << bits;
    }
  }
}

TEST(Float16, SubnormalsInfinitiesAndOverflow) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {5.9604645e-8f, 6.0975552e-5f, 1e-9f, 65504.0f,  65520.0f,
                                -inf,          inf,           -0.0f, 1.5e-5f, 70000.0f};
  const std::vector<float> y = dequantize(T::F16, quantize(T::F16, x).data(), int64_t(x.size()));
  EXPECT_EQ(y[0], 5.9604645e-8f);  // smallest subnormal
  EXPECT_EQ(y[1], 6.0975552e-5f);  // largest subnormal
  EXPECT_EQ(y[2], 0.0f);
  EXPECT_EQ(y[3], 65504.0f);
  EXPECT_EQ(y[4], inf);            // rounds past the largest finite value
  EXPECT_EQ(y[5], -inf);
  EXPECT_EQ(y[6], inf);
  EXPECT_TRUE(std::signbit(y[7]));
  EXPECT_NEAR(y[8], 1.5e-5f, 6e-8f);
  EXPECT_EQ(y[9], inf);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(dequantize(T::F16, quantize(T::F16, {nan}).data(), 1)[0]));
}

TEST(BFloat16, RoundsToNearestEven) {
  const float one = 1.0f, ulp = 1.0f / 128;  // bf16 keeps 7 mantissa bits
  const std::vector<float> x = {
      one + ulp / 2,                       // tie, even neighbour is 1
      one + 3 * ulp / 2,                   // tie, even neighbour is 1 + 2 ulp
      one + ulp / 2 + 1.0f / (1 << 20),    // just past the tie
      -(one + ulp / 2 - 1.0f / (1 << 20)), // just below the tie
      3.3895314e38f,                       // largest finite bf16
  };
  const std::vector<float> y = dequantize(T::BF16, quantize(T::BF16, x).data(), int64_t(x.size()));
  EXPECT_EQ(y[0], one);
  EXPECT_EQ(y[1], one + 2 * ulp);
  EXPECT_EQ(y[2], one + ulp);
  EXPECT_EQ(y[3], -one);
  EXPECT_EQ(y[4], 3.3895314e38f);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> z = dequantize(T::BF16, quantize(T::BF16, {inf, -inf, nan}).data(), 3);
  EXPECT_EQ(z[0], inf);
  EXPECT_EQ(z[1], -inf);
  EXPECT_TRUE(std::isnan(z[2]));
}

// ---- Dot products ------------------------------------------------------------------

// vec_dot against the double-precision dot of the dequantized operands: the
// integer sums are exact, so only float scaling and accumulation differ.
void check_vec_dot(T type, const std::vector<float>& w_float, const std::vector<float>& a_float) {
  const TypeTraits& t = row(type);
  const int64_t n = int64_t(w_float.size());
  const std::vector<uint8_t> w = quantize(type, w_float);
  const std::vector<uint8_t> a = quantize(t.vec_dot_type, a_float);
  const std::vector<float> wd = dequantize(type, w.data(), n);
  const std::vector<float> ad = dequantize(t.vec_dot_type, a.data(), n);
  double exact = 0, magnitude = 0;
  for (int64_t i = 0; i < n; ++i) {
    exact += double(wd[i]) * double(ad[i]);
    magnitude += std::fabs(double(wd[i]) * double(ad[i]));
  }
  const float got = t.vec_dot(n, w.data(), a.data());
  // Q4_1 / Q5_1 use s, which is d*sum(q) rounded to fp16.
  const bool uses_s = t.vec_dot_type == T::Q8_1;
  const double tol = (uses_s ? 2e-3 : 2e-5) * magnitude + 1e-6;
  EXPECT_NEAR(got, exact, tol) << t.name << " n=" << n;
}

TEST(VecDot, MatchesDequantizedDot) {
  for (const Expected& e : kExpected) {
    if (!e.has_vec_dot) continue;
    for (int64_t n : {256, 512, 2048}) {
      check_vec_dot(e.type, random_normal(size_t(n), uint32_t(n) + 1), random_normal(size_t(n), uint32_t(n) + 2));
    }
    if (e.block_size <= 32) {
      check_vec_dot(e.type, random_normal(32, 5), random_normal(32, 6));
      check_vec_dot(e.type, random_normal(96, 7), random_normal(96, 8));
    }
  }
}

// Q8_1's s term has to carry the weights' min: with positive-mean weights and
// activations the min term dominates the result.
TEST(VecDot, MinTermsWithOffsetData) {
  for (const Expected& e : kExpected) {
    if (!e.has_vec_dot) continue;
    check_vec_dot(e.type, random_normal(512, 21, 0.2f, 1.0f), random_normal(512, 22, 0.2f, 1.0f));
  }
}

TEST(VecDot, ZerosGiveZero) {
  for (const Expected& e : kExpected) {
    if (!e.has_vec_dot) continue;
    const std::vector<float> zeros(256, 0.0f);
    const std::vector<uint8_t> w = quantize(e.type, zeros);
    const std::vector<uint8_t> a = quantize(e.vec_dot_type, random_normal(256, 3));
    EXPECT_EQ(row(e.type).vec_dot(256, w.data(), a.data()), 0.0f) << e.name;
  }
}

TEST(VecDot, FloatTypesUseExactWeights) {
  const std::vector<float> w = random_normal(300, 1), a = random_normal(300, 2);
  for (T type : {T::F32, T::F16, T::BF16}) {
    const std::vector<uint8_t> q = quantize(type, w);
    const std::vector<float> wd = dequantize(type, q.data(), 300);
    double exact = 0;
    for (int i = 0; i < 300; ++i) exact += double(wd[i]) * double(a[i]);
    EXPECT_NEAR(row(type).vec_dot(300, q.data(), a.data()), exact, 1e-5) << row(type).name;
  }
}

}  // namespace
}  // namespace kvlite
