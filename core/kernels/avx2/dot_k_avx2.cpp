// The k-quants Q4_K, Q5_K and Q6_K against Q8_K activations in AVX2. Each
// sub-block's integer dot is multiplied by its integer scale in i32 lanes;
// floats appear once per super-block, as in the scalar twin (types_k.cpp).
// Q2_K and Q3_K stay scalar for now.
#if defined(__x86_64__)
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/avx2_util.h"
#include "types/blocks.h"
#include "util/fp16.h"

namespace kvlite::avx2 {

namespace {

KVLITE_AVX2 inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Unsigned codes (0..31) times signed activations: maddubs needs no sign trick.
KVLITE_AVX2 inline __m256i dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

template <bool kFifthBit, class Block>
KVLITE_AVX2 float dot_k_4_5(const Block& w, const BlockQ8_K& a) {
  uint8_t sc[8], m[8];
  for (int s = 0; s < 8; ++s) unpack_k_scale_min(s, w.scales, &sc[s], &m[s]);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i scaled = _mm256_setzero_si256();
  __m256i qh = _mm256_setzero_si256();
  if constexpr (kFifthBit) qh = load32(w.qh);
  for (int c = 0; c < 4; ++c) {
    const __m256i q = load32(w.qs + 32 * c);
    __m256i lo = _mm256_and_si256(q, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
    if constexpr (kFifthBit) {
      // 16-bit shifts leak bits across bytes, but only bit 0 of each byte is kept.
      const __m256i one = _mm256_set1_epi8(1);
      lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c)), one), 4));
      hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c + 1)), one), 4));
    }
    const __m256i dlo = dot_u8_i8(lo, load32(a.qs + 64 * c));
    const __m256i dhi = dot_u8_i8(hi, load32(a.qs + 64 * c + 32));
    scaled = _mm256_add_epi32(scaled, _mm256_mullo_epi32(dlo, _mm256_set1_epi32(sc[2 * c])));
    scaled = _mm256_add_epi32(scaled, _mm256_mullo_epi32(dhi, _mm256_set1_epi32(sc[2 * c + 1])));
  }
  int mins = 0;
  for (int s = 0; s < 8; ++s) mins += m[s] * (a.bsums[2 * s] + a.bsums[2 * s + 1]);
  return a.d * (fp16_to_f32(w.d) * float(hsum_i32(scaled)) - fp16_to_f32(w.dmin) * float(mins));
}

// Q6_K: codes 0..63 are dotted unsigned and the bias of 32 is taken off with
// the activation sums: sum((q - 32) a) = sum(q a) - 32 * bsum.
KVLITE_AVX2 float dot_q6_k_block(const BlockQ6_K& w, const BlockQ8_K& a) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), three = _mm256_set1_epi8(3);
  __m256i scaled = _mm256_setzero_si256();
  for (int h = 0; h < 2; ++h) {
    const __m256i qh = load32(w.qh + 32 * h);
    for (int k = 0; k < 4; ++k) {
      const __m256i ql = load32(w.ql + 64 * h + (k & 1) * 32);
      const __m256i nibble = k < 2 ? _mm256_and_si256(ql, low4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), low4);
      const __m256i high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * k)), three), 4);
      const int e = 128 * h + 32 * k;
      const __m256i d = dot_u8_i8(_mm256_or_si256(nibble, high), load32(a.qs + e));
      // Lanes 0..3 hold values 0..15 of the quarter (sub-block e/16), lanes 4..7 values 16..31.
      const __m256i scale = _mm256_setr_epi32(w.scales[e / 16], w.scales[e / 16], w.scales[e / 16], w.scales[e / 16],
                                              w.scales[e / 16 + 1], w.scales[e / 16 + 1], w.scales[e / 16 + 1],
                                              w.scales[e / 16 + 1]);
      scaled = _mm256_add_epi32(scaled, _mm256_mullo_epi32(d, scale));
    }
  }
  int bias = 0;
  for (int s = 0; s < 16; ++s) bias += w.scales[s] * a.bsums[s];
  return a.d * fp16_to_f32(w.d) * float(hsum_i32(scaled) - 32 * bias);
}

}  // namespace

KVLITE_AVX2 float vec_dot_q4_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ4_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_k_4_5<false>(w[i], a[i]);
  return sum;
}

KVLITE_AVX2 float vec_dot_q5_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ5_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_k_4_5<true>(w[i], a[i]);
  return sum;
}

KVLITE_AVX2 float vec_dot_q6_k(int64_t n, const void* weights, const void* activations) {
  const auto* w = static_cast<const BlockQ6_K*>(weights);
  const auto* a = static_cast<const BlockQ8_K*>(activations);
  float sum = 0.0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) sum += dot_q6_k_block(w[i], a[i]);
  return sum;
}

}  // namespace kvlite::avx2

#endif  // __x86_64__
