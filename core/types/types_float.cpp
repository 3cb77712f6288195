// F32, F16 and BF16 rows. Their dot products take F32 activations and widen
// the weights exactly, so the only rounding is in the (double) accumulation.
#include <cstring>

#include "types/type_kernels.h"
#include "util/fp16.h"

namespace kvlite::kernels {

void to_float_f32(const void* src, float* dst, int64_t n) {
  std::memcpy(dst, src, size_t(n) * sizeof(float));
}

void from_float_f32(const float* src, void* dst, int64_t n) {
  std::memcpy(dst, src, size_t(n) * sizeof(float));
}

// Double accumulation (as ggml's scalar path) keeps long rows from drifting.
float vec_dot_f32(int64_t n, const void* weights, const void* activations) {
  const float* w = static_cast<const float*>(weights);
  const float* a = static_cast<const float*>(activations);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double(w[i] * a[i]);
  return float(sum);
}

void to_float_f16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
}

void from_float_f16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
}

float vec_dot_f16(int64_t n, const void* weights, const void* activations) {
  const uint16_t* w = static_cast<const uint16_t*>(weights);
  const float* a = static_cast<const float*>(activations);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double(fp16_to_f32(w[i]) * a[i]);
  return float(sum);
}

void to_float_bf16(const void* src, float* dst, int64_t n) {
  const uint16_t* h = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
}

void from_float_bf16(const float* src, void* dst, int64_t n) {
  uint16_t* h = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
}

float vec_dot_bf16(int64_t n, const void* weights, const void* activations) {
  const uint16_t* w = static_cast<const uint16_t*>(weights);
  const float* a = static_cast<const float*>(activations);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += double(bf16_to_f32(w[i]) * a[i]);
  return float(sum);
}

}  // namespace kvlite::kernels
