// Every SIMD kernel set this machine runs (AVX2 natively, SIMD128 under node)
// against the scalar reference: the activation quantizers byte for byte, the
// row dot products and the ops within float rounding, on random data, odd
// lengths and extreme values. Built natively and to wasm, so each set is
// tested where it runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/kernel_set.h"
#include "types/blocks.h"
#include "types/tensor_type.h"

namespace kvlite {
namespace {

using T = TensorType;

std::vector<const KernelSet*> simd_sets() {
  std::vector<const KernelSet*> sets(available_kernel_sets().begin() + 1, available_kernel_sets().end());
  return sets;
}

#define FOR_EACH_SIMD_SET(set)                                          \
  if (simd_sets().empty()) GTEST_SKIP() << "no SIMD kernel set here";   \
  for (const KernelSet* set : simd_sets())

std::vector<float> random_floats(size_t n, uint32_t seed, float sigma = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sigma);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// Random data with extreme values sprinkled in: zeros, huge and tiny
// magnitudes, subnormals, exact ties of the largest magnitude with both signs.
// `huge` stays within fp16 range for data whose block scales are fp16.
std::vector<float> extreme_floats(size_t n, uint32_t seed, float huge = 1e30f) {
  std::vector<float> x = random_floats(n, seed);
  std::mt19937 rng(seed * 7 + 1);
  const float specials[] = {0.0f, -0.0f, huge, -huge, 1e-30f, 1e-42f, -1e-42f, 65504.0f, 3.0f, -3.0f, 0.5f};
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 5 == 0) x[i] = specials[rng() % std::size(specials)];
  }
  // Whole blocks of zeros and of one repeated value.
  for (size_t i = 0; i < std::min<size_t>(n, 32); ++i) x[i] = 0.0f;
  for (size_t i = 32; i < std::min<size_t>(n, 64); ++i) x[i] = (i % 2) ? -2.0f : 2.0f;
  return x;
}

// ---- Activation quantizers: identical bytes ----------------------------------

void expect_same_quantization(const KernelSet& set, T type, const std::vector<float>& x, const char* what) {
  const TypeTraits& t = *type_traits(type);
  const int64_t n = int64_t(x.size());
  std::vector<uint8_t> ref(row_bytes(t, n)), got(row_bytes(t, n));
  scalar_kernels().quantize[uint32_t(type)](x.data(), ref.data(), n);
  set.quantize[uint32_t(type)](x.data(), got.data(), n);
  for (size_t b = 0; b < ref.size(); b += t.block_bytes) {
    ASSERT_EQ(0, std::memcmp(ref.data() + b, got.data() + b, t.block_bytes))
        << set.name << " " << t.name << " " << what << " block " << b / t.block_bytes;
  }
}

TEST(KernelsSimd, ActivationQuantizersMatchScalarByteForByte) {
  FOR_EACH_SIMD_SET(set) {
    for (T type : {T::Q8_0, T::Q8_1, T::Q8_K}) {
      const size_t block = size_t(type_traits(type)->block_size);
      for (size_t blocks : {1u, 3u, 7u, 64u}) {
        expect_same_quantization(*set, type, random_floats(block * blocks, uint32_t(blocks)), "random");
        expect_same_quantization(*set, type, random_floats(block * blocks, 9, 1e-3f), "small");
        expect_same_quantization(*set, type, extreme_floats(block * blocks, uint32_t(blocks) + 100), "extreme");
      }
    }
  }
}

TEST(KernelsSimd, ActivationQuantizersHandleInfinityAndNaNAsScalar) {
  FOR_EACH_SIMD_SET(set) {
    for (T type : {T::Q8_0, T::Q8_1, T::Q8_K}) {
      std::vector<float> x = random_floats(size_t(type_traits(type)->block_size) * 2, 5);
      x[3] = std::numeric_limits<float>::infinity();
      x[x.size() - 2] = std::numeric_limits<float>::quiet_NaN();
      expect_same_quantization(*set, type, x, "inf/nan");
    }
  }
}

// ---- Row dot products: within float rounding -------------------------------

// |simd - scalar| must stay within a few float roundings of the sum of
// |w * a|, the natural scale of the rounding error of any summation order.
void expect_dot_close(const KernelSet& set, T type, std::vector<float> wf, const std::vector<float>& af,
                      const char* what) {
  const TypeTraits& t = *type_traits(type);
  const TypeTraits& at = *type_traits(t.vec_dot_type);
  const int64_t n = int64_t(wf.size());
  std::vector<uint8_t> w(row_bytes(t, n)), a(row_bytes(at, n));
  t.from_float(wf.data(), w.data(), n);
  at.from_float(af.data(), a.data(), n);
  std::vector<float> wd(wf.size()), ad(af.size());
  t.to_float(w.data(), wd.data(), n);
  at.to_float(a.data(), ad.data(), n);
  double magnitude = 0;
  for (size_t i = 0; i < wd.size(); ++i) magnitude += std::fabs(double(wd[i]) * ad[i]);
  const float ref = scalar_kernels().vec_dot[uint32_t(type)](n, w.data(), a.data());
  const float got = set.vec_dot[uint32_t(type)](n, w.data(), a.data());
  EXPECT_NEAR(got, ref, 2e-6 * magnitude + 1e-30) << set.name << " " << t.name << " " << what << " n=" << n;
  const PreparedDot& p = set.prepared[uint32_t(type)];
  if (p.dot) {
    std::vector<uint8_t> prepared(p.bytes(n));
    p.prepare(a.data(), n, prepared.data());
    EXPECT_NEAR(p.dot(n, w.data(), prepared.data()), ref, 2e-6 * magnitude + 1e-30)
        << set.name << " prepared " << t.name << " " << what << " n=" << n;
    if (p.dot_multi) {  // several rows at once: each exactly as the one-row kernel
      std::vector<std::vector<uint8_t>> rows_data;
      std::vector<const void*> rows;
      for (int32_t r = 0; r < p.multi_rows; ++r) {
        std::rotate(wf.begin(), wf.begin() + 1, wf.end());  // a different row each time
        rows_data.emplace_back(w.size());
        t.from_float(wf.data(), rows_data.back().data(), n);
      }
      for (const auto& d : rows_data) rows.push_back(d.data());
      std::vector<float> out(size_t(p.multi_rows));
      p.dot_multi(n, rows.data(), prepared.data(), out.data());
      for (int32_t r = 0; r < p.multi_rows; ++r) {
        EXPECT_EQ(out[size_t(r)], p.dot(n, rows[size_t(r)], prepared.data())) << set.name << " multi-row " << t.name;
      }
    }
    if (p.dot_pair) {  // two tokens at once: each exactly as the one-token kernel
      std::vector<float> af2 = af;
      std::reverse(af2.begin(), af2.end());  // a second, different token
      std::vector<uint8_t> a2(a.size());
      at.from_float(af2.data(), a2.data(), n);
      const size_t stride = p.bytes(n) + 16;  // any stride: not just back to back
      std::vector<uint8_t> pair(2 * stride);
      p.prepare(a.data(), n, pair.data());
      p.prepare(a2.data(), n, pair.data() + stride);
      float out[2];
      p.dot_pair(n, w.data(), pair.data(), stride, out);
      EXPECT_EQ(out[0], p.dot(n, w.data(), pair.data())) << set.name << " token pair " << t.name;
      EXPECT_EQ(out[1], p.dot(n, w.data(), pair.data() + stride)) << set.name << " token pair " << t.name;
    }
  }
}

TEST(KernelsSimd, RowDotProductsMatchScalar) {
  FOR_EACH_SIMD_SET(set) {
    for (uint32_t id = 0; id < KernelSet::kTypeSlots; ++id) {
      const TypeTraits* t = type_traits(id);
      const bool faster = set->vec_dot[id] != scalar_kernels().vec_dot[id] || set->prepared[id].dot;
      if (!t || !t->vec_dot || !faster) continue;
      const int64_t unit = std::max(t->block_size, type_traits(t->vec_dot_type)->block_size);
      // Odd numbers of blocks exercise every remainder path of the unrolled loops.
      for (int64_t blocks : {1, 2, 3, 5, 7, 9, 64, 67}) {
        if (unit == 1 && blocks < 8) blocks += 13;  // float rows: odd lengths, not blocks
        const size_t n = size_t(unit * blocks);
        expect_dot_close(*set, t->type, random_floats(n, uint32_t(id * 100 + blocks)), random_floats(n, 77),
                         "random");
        expect_dot_close(*set, t->type, extreme_floats(n, uint32_t(blocks), 6e4f), random_floats(n, 78, 100.0f),
                         "extreme");
      }
    }
  }
}

// Q8_0 codes of -128 (legal in files, never produced by the quantizer) and
// scales at the ends of the fp16 range.
TEST(KernelsSimd, Q8_0DotOnEdgeBlocks) {
  FOR_EACH_SIMD_SET(set) {
    const int nb = 9;
    std::vector<BlockQ8_0> w(nb), a(nb);
    const uint16_t scales[] = {0x7bff, 0x0001, 0x0400, 0x3c00, 0xbc00, 0x0000, 0x83ff, 0x5555, 0x1234};
    std::mt19937 rng(3);
    for (int i = 0; i < nb; ++i) {
      w[i].d = scales[i];
      a[i].d = scales[(i + 3) % nb];
      for (int j = 0; j < kQK; ++j) {
        w[i].qs[j] = int8_t(i % 2 ? -128 : int(rng() % 255) - 127);
        a[i].qs[j] = int8_t(i % 3 ? 127 : int(rng() % 255) - 127);
      }
    }
    const float ref = scalar_kernels().vec_dot[uint32_t(T::Q8_0)](nb * kQK, w.data(), a.data());
    const float got = set->vec_dot[uint32_t(T::Q8_0)](nb * kQK, w.data(), a.data());
    EXPECT_NEAR(got, ref, std::fabs(ref) * 1e-5) << set->name;
  }
}

// ---- Ops ---------------------------------------------------------------------

void expect_all_near(const std::vector<float>& got, const std::vector<float>& ref, float rel, const char* what) {
  ASSERT_EQ(got.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_NEAR(got[i], ref[i], rel * std::fabs(ref[i]) + 1e-30f) << what << " at " << i << " of " << ref.size();
  }
}

const int64_t kOddLengths[] = {1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 64, 67, 100, 257, 2048};

TEST(KernelsSimd, ElementwiseOpsMatchScalar) {
  FOR_EACH_SIMD_SET(set) {
    for (int64_t n : kOddLengths) {
      const std::vector<float> x = random_floats(size_t(n), uint32_t(n)), y0 = random_floats(size_t(n), 5);
      std::vector<float> ya = y0, yb = y0;
      scalar_kernels().add(ya.data(), x.data(), n);
      set->add(yb.data(), x.data(), n);
      EXPECT_EQ(ya, yb) << set->name << " add n=" << n;
      ya = y0, yb = y0;
      scalar_kernels().axpy(ya.data(), 0.37f, x.data(), n);
      set->axpy(yb.data(), 0.37f, x.data(), n);
      for (size_t i = 0; i < ya.size(); ++i) {  // a fused multiply-add rounds once: within |y| + |a x|
        ASSERT_NEAR(yb[i], ya[i], 1e-6f * (std::fabs(y0[i]) + std::fabs(0.37f * x[i]))) << set->name << " axpy";
      }
      ya = y0, yb = y0;
      scalar_kernels().scale(ya.data(), -1.5f, n);
      set->scale(yb.data(), -1.5f, n);
      EXPECT_EQ(ya, yb) << set->name << " scale n=" << n;

      double magnitude = 0;
      for (int64_t i = 0; i < n; ++i) magnitude += std::fabs(double(x[size_t(i)]) * y0[size_t(i)]);
      EXPECT_NEAR(set->dot_f32(x.data(), y0.data(), n), scalar_kernels().dot_f32(x.data(), y0.data(), n),
                  2e-6 * magnitude) << set->name << " dot_f32 n=" << n;
    }
  }
}

// Every half to float, bit for bit with the scalar twin (the F16 KV cache's
// slots go through this), at every offset of a row so unaligned loads count too.
TEST(KernelsSimd, Fp16ToF32RowMatchesScalarOnEveryHalf) {
  std::vector<uint8_t> src(65536 * 2 + 2);
  for (uint32_t h = 0; h < 65536; ++h) src[2 * h + 1] = uint8_t(h), src[2 * h + 2] = uint8_t(h >> 8);
  std::vector<float> ref(65536), got(65536);
  scalar_kernels().fp16_to_f32_row(src.data() + 1, ref.data(), 65536);
  FOR_EACH_SIMD_SET(set) {
    set->fp16_to_f32_row(src.data() + 1, got.data(), 65536);
    for (uint32_t h = 0; h < 65536; ++h) {  // F16C quiets signalling NaNs: any NaN of the same sign will do
      if (std::isnan(ref[h])) {
        ASSERT_TRUE(std::isnan(got[h]) && std::signbit(got[h]) == std::signbit(ref[h])) << set->name << " half " << h;
      } else {
        ASSERT_EQ(0, std::memcmp(&ref[h], &got[h], sizeof(float))) << set->name << " half " << h;
      }
    }
    for (int64_t n : kOddLengths) {
      std::vector<float> a(size_t(n) + 1, -7.0f), b = a;
      scalar_kernels().fp16_to_f32_row(src.data() + 2 * 15360 + 1, a.data(), n);
      set->fp16_to_f32_row(src.data() + 2 * 15360 + 1, b.data(), n);
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << set->name << " n=" << n;  // and nothing past n
    }
  }
}

// The 4-bit KV formats' decode: every nibble value in both halves of a byte,
// a scale per 16 values, bit for bit with the scalar twin.
TEST(KernelsSimd, Lut16DecodeMatchesScalarBitForBit) {
  const std::vector<float> table = random_floats(16, 3);
  FOR_EACH_SIMD_SET(set) {
    for (int64_t n : {16, 32, 48, 64, 128, 512}) {
      std::mt19937 gen{static_cast<uint32_t>(n)};
      std::vector<uint8_t> codes(size_t(n / 2));
      for (size_t i = 0; i < codes.size(); ++i) codes[i] = i < 16 ? uint8_t(i * 17) : uint8_t(gen());
      const std::vector<float> scales = random_floats(size_t(n / 16), 9);
      std::vector<float> a(size_t(n) + 1, 5.0f), b = a;
      scalar_kernels().lut16_decode(codes.data(), table.data(), scales.data(), a.data(), n);
      set->lut16_decode(codes.data(), table.data(), scales.data(), b.data(), n);
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << set->name << " n=" << n;
      EXPECT_EQ(a[0], table[0] * scales[0]);
      EXPECT_EQ(a[3], table[1] * scales[0]);  // byte 1 = 0x11: both nibbles 1
    }
  }
}

// 4-bit rows (scale byte per 16 values, nibbles low first) for q4_scores and
// q4_accumulate: random codes and scale bytes, and the first bytes set so
// every code appears in both nibbles.
struct Q4Data {
  std::vector<uint8_t> bytes;
  size_t row_bytes;
  std::vector<float> scales;
  int8_t levels[16] = {-127, -96, -75, -58, -44, -31, -18, -6, 6, 18, 31, 44, 58, 75, 96, 127};
  Q4Data(int32_t d, int64_t n, uint32_t seed) : row_bytes(size_t(d / 16 + d / 2) + 3), scales(256) {
    std::mt19937 gen{seed};
    bytes.resize(row_bytes * size_t(n));
    for (uint8_t& b : bytes) b = uint8_t(gen());
    for (int32_t i = 0; i < 16 && i < d / 2; ++i) bytes[size_t(d / 16 + i)] = uint8_t(i * 17);
    for (int32_t c = 0; c < 256; ++c) scales[size_t(c)] = std::ldexp(1.0f, (c - 192) / 8) * (1.0f + 0.01f * float(c % 8));
  }
  Q4Rows rows(int32_t d, int64_t n) const { return {bytes.data(), row_bytes, n, d, levels, scales.data()}; }
  // Value j of row r, written out from the layout.
  float value(int32_t d, int64_t r, int32_t j) const {
    const uint8_t* row = bytes.data() + size_t(r) * row_bytes;
    const int32_t code = (row[d / 16 + j / 2] >> (4 * (j & 1))) & 15;
    return float(levels[code]) * scales[row[j / 16]];
  }
};

TEST(KernelsSimd, Q4ScoresMatchScalarAndTheirDefinition) {
  for (int32_t d : {16, 32, 64, 96, 128, 256}) {
    for (int32_t n_q : {1, 3, 4, 9}) {
      const int64_t n = 37;
      const Q4Data k(d, n, uint32_t(d * 10 + n_q));
      std::mt19937 gen{uint32_t(n_q)};
      std::vector<int8_t> q(size_t(n_q * d));
      for (int8_t& v : q) v = int8_t(int32_t(gen() % 255) - 127);
      for (int32_t i = 0; i < d && n_q > 0; ++i) q[size_t(i)] = int8_t(i % 2 ? 127 : -127);  // extremes
      const std::vector<float> q_scale = random_floats(size_t(n_q), 4);
      const int64_t stride = n + 5;
      std::vector<float> a(size_t(n_q * stride), 7.0f), mags(a.size(), 0.0f);
      scalar_kernels().q4_scores(k.rows(d, n), q.data(), q_scale.data(), n_q, a.data(), stride);
      for (int32_t h = 0; h < n_q; ++h) {
        for (int64_t r = 0; r < n; ++r) {
          double want = 0, mag = 0;
          for (int32_t j = 0; j < d; ++j) {
            want += double(q[size_t(h * d + j)]) * double(k.value(d, r, j));
            mag += std::fabs(double(q[size_t(h * d + j)]) * double(k.value(d, r, j)));
          }
          want *= q_scale[size_t(h)];
          mag *= std::fabs(q_scale[size_t(h)]);
          mags[size_t(h * stride + r)] = float(mag);
          ASSERT_NEAR(a[size_t(h * stride + r)], want, 1e-6 * mag + 1e-30) << "scalar d=" << d << " head " << h;
        }
        EXPECT_EQ(a[size_t(h * stride + n)], 7.0f);  // past the rows: untouched
      }
      FOR_EACH_SIMD_SET(set) {
        std::vector<float> b(a.size(), 7.0f);
        set->q4_scores(k.rows(d, n), q.data(), q_scale.data(), n_q, b.data(), stride);
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_NEAR(b[i], a[i], 1e-6f * mags[i]) << set->name << " d=" << d << " n_q=" << n_q << " at " << i;
        }
      }
    }
  }
}

TEST(KernelsSimd, Q4AccumulateMatchesScalarAndItsDefinition) {
  for (int32_t d : {16, 32, 64, 96, 128}) {
    for (int32_t n_q : {1, 3, 8}) {
      const int64_t n = 29, w_stride = n + 3;
      const Q4Data v(d, n, uint32_t(d * 7 + n_q));
      const std::vector<float> w = random_floats(size_t(n_q * w_stride), 5);
      const std::vector<float> start = random_floats(size_t(n_q * d), 6);
      std::vector<float> a = start;
      scalar_kernels().q4_accumulate(v.rows(d, n), w.data(), w_stride, n_q, a.data());
      for (int32_t h = 0; h < n_q; ++h) {
        for (int32_t j = 0; j < d; ++j) {
          double want = start[size_t(h * d + j)], mag = std::fabs(want);
          for (int64_t r = 0; r < n; ++r) {
            want += double(w[size_t(h * w_stride + r)]) * double(v.value(d, r, j));
            mag += std::fabs(double(w[size_t(h * w_stride + r)]) * double(v.value(d, r, j)));
          }
          ASSERT_NEAR(a[size_t(h * d + j)], want, 1e-6 * mag) << "scalar d=" << d << " head " << h << " value " << j;
        }
      }
      FOR_EACH_SIMD_SET(set) {
        std::vector<float> b = start;
        set->q4_accumulate(v.rows(d, n), w.data(), w_stride, n_q, b.data());
        for (size_t i = 0; i < a.size(); ++i) {
          double mag = std::fabs(start[i]);
          for (int64_t r = 0; r < n; ++r) {
            mag += std::fabs(double(w[size_t(int64_t(i) / d * w_stride + r)]) * double(v.value(d, r, int32_t(i % size_t(d)))));
          }
          ASSERT_NEAR(b[i], a[i], 1e-6 * mag) << set->name << " d=" << d << " n_q=" << n_q << " at " << i;
        }
      }
    }
  }
}

TEST(KernelsSimd, RmsnormMatchesScalar) {
  FOR_EACH_SIMD_SET(set) {
    for (int64_t n : kOddLengths) {
      for (float sigma : {1.0f, 1e-20f, 1e15f}) {
        const std::vector<float> x = random_floats(size_t(n), uint32_t(n), sigma), w = random_floats(size_t(n), 2);
        std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
        scalar_kernels().rmsnorm(a.data(), x.data(), w.data(), n, 1e-5f);
        set->rmsnorm(b.data(), x.data(), w.data(), n, 1e-5f);
        expect_all_near(b, a, 1e-6f, "rmsnorm");
      }
    }
  }
}

TEST(KernelsSimd, SoftmaxMatchesScalar) {
  FOR_EACH_SIMD_SET(set) {
    for (int64_t n : kOddLengths) {
      for (float sigma : {1.0f, 30.0f, 1000.0f}) {
        const std::vector<float> x = random_floats(size_t(n), uint32_t(n) + 11, sigma);
        std::vector<float> a = x, b = x;
        scalar_kernels().softmax(a.data(), n);
        set->softmax(b.data(), n);
        for (size_t i = 0; i < a.size(); ++i) {
          // Relative to each weight, and absolutely for weights that are all but zero.
          ASSERT_NEAR(b[i], a[i], 4e-6f * a[i] + 1e-37f) << set->name << " softmax n=" << n << " at " << i;
        }
      }
    }
  }
}

TEST(KernelsSimd, SwigluMatchesScalarIncludingSaturation) {
  FOR_EACH_SIMD_SET(set) {
    for (int64_t n : kOddLengths) {
      std::vector<float> g = random_floats(size_t(n), uint32_t(n) + 3, 4.0f);
      const std::vector<float> up = random_floats(size_t(n), 4);
      const float extremes[] = {-100.0f, 100.0f, -88.0f, 89.0f, 0.0f, -1e30f, 1e30f};
      for (size_t i = 0; i < g.size(); i += 5) g[i] = extremes[(i / 5) % std::size(extremes)];
      std::vector<float> a = g, b = g;
      scalar_kernels().swiglu(a.data(), up.data(), n);
      set->swiglu(b.data(), up.data(), n);
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_NEAR(b[i], a[i], 4e-6f * std::fabs(a[i]) + 1e-30f) << set->name << " swiglu g=" << g[i];
      }
    }
  }
}

TEST(KernelsSimd, RopeRotateMatchesScalarBitForBit) {
  FOR_EACH_SIMD_SET(set) {
    for (int32_t d : {2, 6, 8, 10, 32, 64, 128}) {  // halves of 1..64, with and without a tail
      for (RopeStyle style : {RopeStyle::Adjacent, RopeStyle::NeoX}) {
        const int32_t heads = 3;
        const std::vector<float> x = random_floats(size_t(heads * d), uint32_t(d) + 5, 3.0f);
        std::vector<float> c(size_t(d / 2)), s(size_t(d / 2));
        for (int32_t i = 0; i < d / 2; ++i) c[size_t(i)] = std::cos(0.7f * float(i + 1)), s[size_t(i)] = std::sin(0.7f * float(i + 1));
        std::vector<float> a = x, b = x;
        scalar_kernels().rope_rotate(a.data(), heads, d, style, c.data(), s.data());
        set->rope_rotate(b.data(), heads, d, style, c.data(), s.data());
        EXPECT_EQ(a, b) << set->name << " rope d=" << d << (style == RopeStyle::NeoX ? " neox" : " adjacent");
      }
    }
  }
}

// rope() through the active set against the rotation written out in double
// precision: pairs (2i, 2i+1) or (i, i + d/2) turned by pos * theta^(-2i/d).
TEST(KernelsSimd, RopeRotatesPairsByPositionTimesFrequency) {
  const int32_t d = 16, heads = 2, pos = 37;
  for (RopeStyle style : {RopeStyle::Adjacent, RopeStyle::NeoX}) {
    const RopeTable table = make_rope_table(d, 10000.0f, style);
    const std::vector<float> x = random_floats(size_t(heads * d), 9);
    std::vector<float> y = x;
    rope(y.data(), heads, table, pos);
    for (int32_t h = 0; h < heads; ++h) {
      for (int32_t i = 0; i < d / 2; ++i) {
        const int32_t a = h * d + (style == RopeStyle::Adjacent ? 2 * i : i);
        const int32_t b = h * d + (style == RopeStyle::Adjacent ? 2 * i + 1 : i + d / 2);
        const double angle = pos * std::pow(10000.0, -2.0 * i / d);
        EXPECT_NEAR(y[size_t(a)], x[size_t(a)] * std::cos(angle) - x[size_t(b)] * std::sin(angle), 1e-4);
        EXPECT_NEAR(y[size_t(b)], x[size_t(a)] * std::sin(angle) + x[size_t(b)] * std::cos(angle), 1e-4);
      }
    }
  }
}

TEST(KernelsSimd, TheFastestSetIsActiveByDefault) {
  EXPECT_EQ(&active_kernels(), available_kernel_sets().back());
  EXPECT_STREQ(scalar_kernels().name, "scalar");
#if defined(__wasm_simd128__)
  EXPECT_STREQ(active_kernels().name, relaxed_kernels_linked() ? "simd128-relaxed" : "simd128");
#endif
}

#if defined(KVLITE_TEST_RELAXED)
// Compiled into test_kernels_simd_relaxed_web only, the build of this file
// with the relaxed-SIMD kernels linked (only a browser with relaxed SIMD runs
// it: e2e/tests/relaxed-simd.spec.ts). The relaxed-SIMD dot products give exactly the SIMD128 set's results, so a page gets the same
// tokens whichever module it loaded. Their weights may hold any byte (-128
// included); activations come from the Q8_0 quantizer.
TEST(KernelsSimd, RelaxedDotsEqualSimd128BitForBit) {
  ASSERT_TRUE(relaxed_kernels_linked());
  const KernelSet* simd = nullptr;
  const KernelSet* relaxed = nullptr;
  for (const KernelSet* set : available_kernel_sets()) {
    if (std::strcmp(set->name, "simd128") == 0) simd = set;
    if (std::strcmp(set->name, "simd128-relaxed") == 0) relaxed = set;
  }
  ASSERT_TRUE(simd && relaxed);
  for (T type : {T::Q8_0, T::Q4_0}) {
    const TypeTraits& t = *type_traits(type);
    const PreparedDot& ps = simd->prepared[uint32_t(type)];
    const PreparedDot& pr = relaxed->prepared[uint32_t(type)];
    ASSERT_TRUE(pr.dot && pr.dot_pair && pr.prepare && ps.dot) << t.name;
    for (int64_t blocks : {1, 3, 4, 5, 8, 63, 64, 67}) {
      const int64_t n = blocks * kQK;
      std::vector<uint8_t> w(row_bytes(t, n)), a(row_bytes(*type_traits(T::Q8_0), n) * 2);
      t.from_float(extreme_floats(size_t(n), uint32_t(blocks), 6e4f).data(), w.data(), n);
      if (type == T::Q8_0) {  // weight codes of -128 and 127 too: legal in files
        auto* b = reinterpret_cast<BlockQ8_0*>(w.data());
        for (int64_t i = 0; i < blocks; ++i) b[i].qs[i % kQK] = int8_t(i % 2 ? -128 : 127);
      }
      const size_t a_row = a.size() / 2;
      scalar_kernels().quantize[uint32_t(T::Q8_0)](random_floats(size_t(n), 5, 3.0f).data(), a.data(), n);
      scalar_kernels().quantize[uint32_t(T::Q8_0)](extreme_floats(size_t(n), 6, 6e4f).data(), a.data() + a_row, n);
      ASSERT_EQ(ps.bytes(n), pr.bytes(n));
      const size_t stride = pr.bytes(n) + 32;
      std::vector<uint8_t> qs(2 * stride), qr(2 * stride);
      for (int tok = 0; tok < 2; ++tok) {
        ps.prepare(a.data() + tok * a_row, n, qs.data() + tok * stride);
        pr.prepare(a.data() + tok * a_row, n, qr.data() + tok * stride);
        const float want = ps.dot(n, w.data(), qs.data() + tok * stride);
        EXPECT_EQ(pr.dot(n, w.data(), qr.data() + tok * stride), want) << t.name << " n=" << n << " token " << tok;
      }
      float pair[2];
      pr.dot_pair(n, w.data(), qr.data(), stride, pair);
      EXPECT_EQ(pair[0], ps.dot(n, w.data(), qs.data())) << t.name << " pair, n=" << n;
      EXPECT_EQ(pair[1], ps.dot(n, w.data(), qs.data() + stride)) << t.name << " pair, n=" << n;
    }
  }
}
#endif

}  // namespace
}  // namespace kvlite
