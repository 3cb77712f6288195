// The 4- and 5-bit 32-value block quants (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL)
// against 8-bit activations in AVX2+FMA: a block's 32 codes are unpacked into
// one 256-bit register of signed bytes and multiplied as Q8_0 is.
#if defined(__x86_64__)
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/avx2_util.h"
#include "types/blocks.h"

namespace kvlite::avx2 {

namespace {

// The 32 nibbles of a block as bytes in element order (0..15 low, 16..31 high).
KVLITE_AVX2 inline __m256i unpack_nibbles(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  const __m128i lo = _mm_and_si128(q, mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
  return _mm256_set_m128i(hi, lo);
}

// 0x10 in byte j where bit j of the 32-bit field qh is set.
KVLITE_AVX2 inline __m256i unpack_fifth_bits(const uint8_t* qh) {
  uint32_t bits;
  std::memcpy(&bits, qh, 4);
  const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(int32_t(bits)), pick);
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit), _mm256_set1_epi8(0x10));
}

template <class Block>
KVLITE_AVX2 inline __m256 dot_codes(__m256i codes, const Block& a) {
  return _mm256_cvtepi32_ps(dot_i8x32(codes, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.qs))));
}

struct Q4_0Codes {
  KVLITE_AVX2 __m256 operator()(const BlockQ4_0& w, const BlockQ8_0& a) const {
    return dot_codes(_mm256_sub_epi8(unpack_nibbles(w.qs), _mm256_set1_epi8(8)), a);
  }
};
struct Q4_1Codes {
  KVLITE_AVX2 __m256 operator()(const BlockQ4_1& w, const BlockQ8_1& a) const {
    return dot_codes(unpack_nibbles(w.qs), a);
  }
};
struct Q5_0Codes {
  KVLITE_AVX2 __m256 operator()(const BlockQ5_0& w, const BlockQ8_0& a) const {
    const __m256i codes = _mm256_or_si256(unpack_nibbles(w.qs), unpack_fifth_bits(w.qh));
    return dot_codes(_mm256_sub_epi8(codes, _mm256_set1_epi8(16)), a);
  }
};
struct Q5_1Codes {
  KVLITE_AVX2 __m256 operator()(const BlockQ5_1& w, const BlockQ8_1& a) const {
    return dot_codes(_mm256_or_si256(unpack_nibbles(w.qs), unpack_fifth_bits(w.qh)), a);
  }
};
struct IQ4NLCodes {
  KVLITE_AVX2 __m256 operator()(const BlockIQ4_NL& w, const BlockQ8_0& a) const {
    const __m128i book = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4NLValues));
    return dot_codes(_mm256_shuffle_epi8(_mm256_set_m128i(book, book), unpack_nibbles(w.qs)), a);
  }
};

template <bool kHasMin, class WBlock, class ABlock, class Codes>
KVLITE_AVX2 float dot_blocks(int64_t n, const void* weights, const void* activations, Codes codes) {
  const auto* w = static_cast<const WBlock*>(weights);
  const auto* a = static_cast<const ABlock*>(activations);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
  float min_sum = 0.0f;
  const int64_t nb = n / kQK;
  for (int64_t i = 0; i < nb; ++i) {
    const __m256 d = _mm256_set1_ps(f16(&w[i].d) * f16(&a[i].d));
    if (i % 2) acc1 = _mm256_fmadd_ps(d, codes(w[i], a[i]), acc1);
    else acc0 = _mm256_fmadd_ps(d, codes(w[i], a[i]), acc0);
    if constexpr (kHasMin) min_sum += f16(&w[i].m) * f16(&a[i].s);
  }
  return hsum(_mm256_add_ps(acc0, acc1)) + min_sum;
}

}  // namespace

KVLITE_AVX2 float vec_dot_q4_0(int64_t n, const void* w, const void* a) {
  return dot_blocks<false, BlockQ4_0, BlockQ8_0>(n, w, a, Q4_0Codes{});
}
KVLITE_AVX2 float vec_dot_q4_1(int64_t n, const void* w, const void* a) {
  return dot_blocks<true, BlockQ4_1, BlockQ8_1>(n, w, a, Q4_1Codes{});
}
KVLITE_AVX2 float vec_dot_q5_0(int64_t n, const void* w, const void* a) {
  return dot_blocks<false, BlockQ5_0, BlockQ8_0>(n, w, a, Q5_0Codes{});
}
KVLITE_AVX2 float vec_dot_q5_1(int64_t n, const void* w, const void* a) {
  return dot_blocks<true, BlockQ5_1, BlockQ8_1>(n, w, a, Q5_1Codes{});
}
KVLITE_AVX2 float vec_dot_iq4_nl(int64_t n, const void* w, const void* a) {
  return dot_blocks<false, BlockIQ4_NL, BlockQ8_0>(n, w, a, IQ4NLCodes{});
}

}  // namespace kvlite::avx2

#endif  // __x86_64__
