// The one dispatch point for compute kernels. A KernelSet is everything the
// forward pass calls in its hot loops, for one instruction set: the row dot
// products of each weight type against its converted activations, the
// activation quantizers, and the elementwise/row ops of ops.h.
//
// Sets: "scalar" (the type table's reference kernels and ops_scalar.cpp; every
// other set is tested against it), "simd128" (WebAssembly SIMD128, chosen at
// compile time: a wasm module built with -msimd128 only loads where SIMD128
// runs), "sse2" (the x86-64 baseline, for CPUs without AVX2) and "avx2"
// (x86-64 AVX2+FMA, chosen at run time from CPUID so one binary runs on any
// x86-64), plus "simd128-relaxed" in the wasm modules built with relaxed SIMD
// (the page loads those only where the browser validates it). A SIMD set leaves an entry at the scalar kernel
// where it has nothing faster.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "types/tensor_type.h"

namespace kvlite {

// An optional faster form of a type's row dot product: each token's converted
// activations are laid out again once per matmul (for SIMD128, widened to 16
// bits with float scales, so no row pays for that again), and `dot` reads
// that layout: dot(n, weights, prepared).
struct PreparedDot {
  size_t (*bytes)(int64_t n) = nullptr;  // prepared bytes per token (a multiple of 16)
  void (*prepare)(const void* activations, int64_t n, void* prepared) = nullptr;
  VecDotFn dot = nullptr;
  // `multi_rows` rows at once (may be null): out[r] = dot(n, weights[r],
  // prepared), bit for bit, so grouping rows never changes a result.
  void (*dot_multi)(int64_t n, const void* const* weights, const void* prepared, float* out) = nullptr;
  int32_t multi_rows = 0;
  // Two tokens at once (may be null), their prepared rows `stride` bytes
  // apart: out[t] = dot(n, weights, prepared + t * stride), bit for bit, so
  // a prefill batch gives the same results as tokens one by one.
  void (*dot_pair)(int64_t n, const void* weights, const void* prepared, size_t stride, float* out) = nullptr;
};

struct KernelSet {
  static constexpr uint32_t kTypeSlots = 32;  // covers every GGUF type id kvlite knows

  const char* name = "";
  // Indexed by the raw TensorType id; never null for a type with a scalar vec_dot.
  VecDotFn vec_dot[kTypeSlots] = {};
  // Indexed like vec_dot; used by matmul instead of vec_dot where set.
  PreparedDot prepared[kTypeSlots] = {};
  // Activation quantizers, indexed by the vec_dot_type id (Q8_0, Q8_1, Q8_K).
  FromFloatFn quantize[kTypeSlots] = {};

  void (*rmsnorm)(float* out, const float* x, const float* weight, int64_t n, float eps) = nullptr;
  void (*softmax)(float* x, int64_t n) = nullptr;
  void (*swiglu)(float* gate, const float* up, int64_t n) = nullptr;
  void (*geglu)(float* gate, const float* up, int64_t n) = nullptr;
  void (*add)(float* y, const float* x, int64_t n) = nullptr;
  float (*dot_f32)(const float* a, const float* b, int64_t n) = nullptr;
  void (*axpy)(float* y, float a, const float* x, int64_t n) = nullptr;
  void (*scale)(float* y, float a, int64_t n) = nullptr;
  void (*fp16_to_f32_row)(const void* halves, float* out, int64_t n) = nullptr;
  void (*lut16_decode)(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n) = nullptr;
  void (*q4_scores)(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out,
                    int64_t out_stride) = nullptr;
  void (*q4_accumulate)(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc) = nullptr;
  void (*rope_rotate)(float* x, int32_t n_heads, int32_t head_dim, RopeStyle style, const float* cos,
                      const float* sin) = nullptr;
};

// The reference set.
const KernelSet& scalar_kernels();
// Every set this machine can run, scalar first, fastest last.
const std::vector<const KernelSet*>& available_kernel_sets();
// The set in use: the fastest available unless use_kernels() chose another.
const KernelSet& active_kernels();
// Switches the process to another set (benchmarks and tests compare sets).
// Not for use while another thread runs kernels.
void use_kernels(const KernelSet& set);

// Filled in by each instruction set's files; they copy `base` and override
// what they implement.
KernelSet make_simd128_kernels(const KernelSet& base);
KernelSet make_sse2_kernels(const KernelSet& base);
KernelSet make_avx2_kernels(const KernelSet& base);
// "simd128-relaxed": SIMD128 plus relaxed SIMD's 8-bit dot products, in the
// wasm modules that link kernels/relaxed/ (built by a newer clang).
KernelSet make_relaxed_kernels(const KernelSet& simd128);
bool relaxed_kernels_linked();
bool cpu_has_avx2_fma();

}  // namespace kvlite
