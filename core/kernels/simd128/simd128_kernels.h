// The WebAssembly SIMD128 kernels, each the twin of a scalar kernel with the
// same signature (types/type_kernels.h, kernels/ops.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/ops.h"

namespace kvlite::simd128 {

float vec_dot_q8_0(int64_t n, const void* weights, const void* activations);
float vec_dot_q4_0(int64_t n, const void* weights, const void* activations);
float vec_dot_q4_1(int64_t n, const void* weights, const void* activations);
float vec_dot_q5_0(int64_t n, const void* weights, const void* activations);
float vec_dot_q5_1(int64_t n, const void* weights, const void* activations);
float vec_dot_iq4_nl(int64_t n, const void* weights, const void* activations);
float vec_dot_q4_k(int64_t n, const void* weights, const void* activations);
float vec_dot_q5_k(int64_t n, const void* weights, const void* activations);
float vec_dot_q6_k(int64_t n, const void* weights, const void* activations);
float vec_dot_f32(int64_t n, const void* weights, const void* activations);
float vec_dot_f16(int64_t n, const void* weights, const void* activations);
float vec_dot_bf16(int64_t n, const void* weights, const void* activations);

// Prepared Q8_0 activations (kernel_set.h's PreparedDot) and the rows that read them.
size_t q8_0_prepared_bytes(int64_t n);
void prepare_q8_0(const void* activations, int64_t n, void* prepared);
float dot_q8_0_prepared(int64_t n, const void* weights, const void* prepared);
float dot_q4_0_prepared(int64_t n, const void* weights, const void* prepared);
void dot_q8_0_prepared_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out);
void dot_q4_0_prepared_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out);

void quantize_q8_0(const float* src, void* dst, int64_t n);
void quantize_q8_1(const float* src, void* dst, int64_t n);
void quantize_q8_k(const float* src, void* dst, int64_t n);

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps);
void softmax(float* x, int64_t n);
void swiglu(float* gate, const float* up, int64_t n);
void rope_rotate(float* x, int32_t n_heads, int32_t head_dim, RopeStyle style, const float* cos, const float* sin);
void add(float* y, const float* x, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);
void axpy(float* y, float a, const float* x, int64_t n);
void scale(float* y, float a, int64_t n);
void fp16_to_f32_row(const void* halves, float* out, int64_t n);
void lut16_decode(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n);
void q4_scores(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out, int64_t out_stride);
void q4_accumulate(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc);

}  // namespace kvlite::simd128
