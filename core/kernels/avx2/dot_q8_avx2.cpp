// Q8_0 rows against Q8_0 activations, and the activation quantizers (Q8_0,
// Q8_1, Q8_K), in AVX2+FMA. A Q8_0 block is exactly one 256-bit register;
// two blocks per iteration into two accumulators keep the FMA chain busy.
#if defined(__x86_64__)
#include "kernels/avx2/avx2_kernels.h"

#include "kernels/avx2/avx2_util.h"
#include "types/blocks.h"
#include "util/fp16.h"

namespace kvlite::avx2 {

namespace {

KVLITE_AVX2 __m256 block_dot_q8(const BlockQ8_0& w, const BlockQ8_0& a) {
  const __m256i wq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.qs));
  const __m256i aq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs));
  return _mm256_cvtepi32_ps(dot_i8x32(wq, aq));
}

// Eight codes: x * id rounded to nearest even and clamped to -127..127
// exactly as round_clamped does (max_ps returns its second operand for a
// NaN first operand, so NaN goes to -127).
KVLITE_AVX2 __m256i round_codes(__m256 x, __m256 id) {
  __m256 v = _mm256_max_ps(_mm256_mul_ps(x, id), _mm256_set1_ps(-127.0f));
  v = _mm256_min_ps(v, _mm256_set1_ps(127.0f));
  return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// 32 floats to 32 codes; returns their sum (Q8_1 needs it).
KVLITE_AVX2 int32_t quantize_32(const float* x, float id, int8_t* qs) {
  const __m256 vid = _mm256_set1_ps(id);
  const __m256i c0 = round_codes(_mm256_loadu_ps(x), vid);
  const __m256i c1 = round_codes(_mm256_loadu_ps(x + 8), vid);
  const __m256i c2 = round_codes(_mm256_loadu_ps(x + 16), vid);
  const __m256i c3 = round_codes(_mm256_loadu_ps(x + 24), vid);
  const int32_t sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3)));
  // The packs work within 128-bit lanes; the permute puts the bytes back in order.
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(c0, c1), _mm256_packs_epi32(c2, c3));
  const __m256i ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), ordered);
  return sum;
}

// max |x| over n floats (n a multiple of 16); max_ps keeps its second operand
// when the first is NaN, so NaNs are skipped as fmax skips them.
KVLITE_AVX2 float abs_max(const float* x, int n) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 m0 = _mm256_setzero_ps(), m1 = m0;
  for (int j = 0; j < n; j += 16) {
    m0 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), m0);
    m1 = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j + 8)), m1);
  }
  __m256 m = _mm256_max_ps(m0, m1);
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

float inverse_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

}  // namespace

KVLITE_AVX2 float vec_dot_q8_0(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ8_0*>(weights);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  const int64_t nb = n / kQK;
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    // About 1 KiB ahead: the next row's first lines arrive while this row is
    // still being summed (rows are contiguous), keeping the stream busy.
    _mm_prefetch(reinterpret_cast<const char*>(w + i) + 1024, _MM_HINT_T0);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w[i].d) * f16(&a[i].d)), block_dot_q8(w[i], a[i]), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w[i + 1].d) * f16(&a[i + 1].d)), block_dot_q8(w[i + 1], a[i + 1]),
                           acc1);
  }
  if (i < nb) acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w[i].d) * f16(&a[i].d)), block_dot_q8(w[i], a[i]), acc0);
  return hsum(_mm256_add_ps(acc0, acc1));
}

// Two rows against the same activations, each summed exactly as
// vec_dot_q8_0 sums it: two independent streams through memory keep more
// cache misses in flight than one. The activations need no preparation
// beyond a copy, so `prepare` is one.
size_t q8_0_act_bytes(int64_t n) { return size_t(n / kQK) * sizeof(BlockQ8_0); }

void copy_q8_0_act(const void* activations, int64_t n, void* prepared) {
  std::memcpy(prepared, activations, q8_0_act_bytes(n));
}

KVLITE_AVX2 void vec_dot_q8_0_2(int64_t n, const void* const* weights, const void* activations, float* out) {
  const auto* w0 = static_cast<const BlockQ8_0*>(weights[0]);
  const auto* w1 = static_cast<const BlockQ8_0*>(weights[1]);
  const auto* a = static_cast<const BlockQ8_0*>(activations);
  const int64_t nb = n / kQK;
  __m256 acc00 = _mm256_setzero_ps(), acc01 = acc00, acc10 = acc00, acc11 = acc00;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    _mm_prefetch(reinterpret_cast<const char*>(w0 + i) + 1024, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(w1 + i) + 1024, _MM_HINT_T0);
    const float da0 = f16(&a[i].d), da1 = f16(&a[i + 1].d);
    acc00 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w0[i].d) * da0), block_dot_q8(w0[i], a[i]), acc00);
    acc01 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w0[i + 1].d) * da1), block_dot_q8(w0[i + 1], a[i + 1]), acc01);
    acc10 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w1[i].d) * da0), block_dot_q8(w1[i], a[i]), acc10);
    acc11 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w1[i + 1].d) * da1), block_dot_q8(w1[i + 1], a[i + 1]), acc11);
  }
  if (i < nb) {
    acc00 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w0[i].d) * f16(&a[i].d)), block_dot_q8(w0[i], a[i]), acc00);
    acc10 = _mm256_fmadd_ps(_mm256_set1_ps(f16(&w1[i].d) * f16(&a[i].d)), block_dot_q8(w1[i], a[i]), acc10);
  }
  out[0] = hsum(_mm256_add_ps(acc00, acc01));
  out[1] = hsum(_mm256_add_ps(acc10, acc11));
}

KVLITE_AVX2 void quantize_q8_0(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_0*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = abs_max(src, kQK) / 127.0f;
    quantize_32(src, inverse_or_zero(d), b[i].qs);
    b[i].d = f32_to_fp16(d);
  }
}

KVLITE_AVX2 void quantize_q8_1(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_1*>(dst);
  for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
    const float d = abs_max(src, kQK) / 127.0f;
    const int32_t sum = quantize_32(src, inverse_or_zero(d), b[i].qs);
    b[i].d = f32_to_fp16(d);
    b[i].s = f32_to_fp16(d * float(sum));
  }
}

// The scale comes from the first value of largest magnitude, sign kept, as
// the scalar quantizer picks it.
KVLITE_AVX2 void quantize_q8_k(const float* src, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
    const __m256 target = _mm256_set1_ps(abs_max(src, kQK_K));
    float peak = 0.0f;
    for (int j = 0; j < kQK_K; j += 8) {
      const __m256 eq = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(src + j)), target, _CMP_EQ_OQ);
      const int hit = _mm256_movemask_ps(eq);
      if (hit) {
        peak = src[j + __builtin_ctz(unsigned(hit))];
        break;
      }
    }
    const float iscale = peak != 0.0f ? -127.0f / peak : 0.0f;
    for (int j = 0; j < kQK_K; j += 32) quantize_32(src + j, iscale, b[i].qs + j);
    for (int g = 0; g < kQK_K / 16; ++g) {
      const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].qs + 16 * g));
      const __m256i wide = _mm256_cvtepi8_epi16(q);
      b[i].bsums[g] = int16_t(hsum_i32(_mm256_madd_epi16(wide, _mm256_set1_epi16(1))));
    }
    b[i].d = inverse_or_zero(iscale);
  }
}

}  // namespace kvlite::avx2

#endif  // __x86_64__
