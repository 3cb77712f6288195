// The x86-64 baseline set (SSE2, which every x86-64 has) for CPUs without
// AVX2: the Q8_0 row dot product and the float dot/axpy of attention, the
// loops that dominate a Q8_0 model. Everything else stays scalar.
#if defined(__x86_64__)
#include <emmintrin.h>

#include <cstring>

#include "kernels/kernel_set.h"
#include "types/blocks.h"
#include "util/fp16.h"

namespace kvlite {

namespace sse2 {
namespace {

// Sum of a[i] * b[i] over 16 signed bytes as four i32 partial sums: bytes are
// sign-extended to 16 bits by unpacking with themselves and shifting.
inline __m128i dot_i8x16(__m128i a, __m128i b) {
  const __m128i a_lo = _mm_srai_epi16(_mm_unpacklo_epi8(a, a), 8), a_hi = _mm_srai_epi16(_mm_unpackhi_epi8(a, a), 8);
  const __m128i b_lo = _mm_srai_epi16(_mm_unpacklo_epi8(b, b), 8), b_hi = _mm_srai_epi16(_mm_unpackhi_epi8(b, b), 8);
  return _mm_add_epi32(_mm_madd_epi16(a_lo, b_lo), _mm_madd_epi16(a_hi, b_hi));
}

inline float hsum(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_shuffle_ps(v, v, 1));
  return _mm_cvtss_f32(v);
}

float vec_dot_q8_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ8_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  __m128 acc = _mm_setzero_ps();
  for (int64_t i = 0; i < n / kQK; ++i) {
    const __m128i w0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].qs));
    const __m128i w1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].qs + 16));
    const __m128i a0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].qs));
    const __m128i a1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].qs + 16));
    const __m128i sums = _mm_add_epi32(dot_i8x16(w0, a0), dot_i8x16(w1, a1));
    const float d = fp16_to_f32(w[i].d) * fp16_to_f32(a[i].d);
    acc = _mm_add_ps(acc, _mm_mul_ps(_mm_cvtepi32_ps(sums), _mm_set1_ps(d)));
  }
  return hsum(acc);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m128 s0 = _mm_setzero_ps(), s1 = s0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
  }
  float sum = hsum(_mm_add_ps(s0, s1));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy(float* y, float a, const float* x, int64_t n) {
  const __m128 va = _mm_set1_ps(a);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) _mm_storeu_ps(y + i, _mm_add_ps(_mm_loadu_ps(y + i), _mm_mul_ps(va, _mm_loadu_ps(x + i))));
  for (; i < n; ++i) y[i] += a * x[i];
}

float vec_dot_f32(int64_t n, const void* weights, const void* activations) {
  return dot_f32(static_cast<const float*>(weights), static_cast<const float*>(activations), n);
}

}  // namespace
}  // namespace sse2

KernelSet make_sse2_kernels(const KernelSet& base) {
  KernelSet k = base;
  k.name = "sse2";
  k.vec_dot[uint32_t(TensorType::Q8_0)] = sse2::vec_dot_q8_0;
  k.vec_dot[uint32_t(TensorType::F32)] = sse2::vec_dot_f32;
  k.dot_f32 = sse2::dot_f32;
  k.axpy = sse2::axpy;
  return k;
}

}  // namespace kvlite

#endif  // __x86_64__
