// The relaxed-SIMD KernelSet: the SIMD128 set with the Q8_0 and Q4_0 row dot
// products replaced by kernels/relaxed/dot_relaxed.cpp's. That file is built
// by a newer clang into the *-relaxed wasm modules only, so its functions are
// weak references here: null in every other module, which then has no such set.
#if defined(__wasm_simd128__)
#include <cstddef>
#include <cstdint>

#include "kernels/kernel_set.h"

namespace kvlite {

namespace relaxed {
[[gnu::weak]] size_t prepared_bytes(int64_t n);
[[gnu::weak]] void prepare_q8_0(const void* activations, int64_t n, void* prepared);
[[gnu::weak]] float dot_q8_0(int64_t n, const void* weights, const void* prepared);
[[gnu::weak]] void dot_q8_0_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out);
[[gnu::weak]] float dot_q4_0(int64_t n, const void* weights, const void* prepared);
[[gnu::weak]] void dot_q4_0_pair(int64_t n, const void* weights, const void* prepared, size_t stride, float* out);
}  // namespace relaxed

bool relaxed_kernels_linked() {
  return relaxed::prepared_bytes != nullptr && relaxed::prepare_q8_0 != nullptr && relaxed::dot_q8_0 != nullptr &&
         relaxed::dot_q8_0_pair != nullptr && relaxed::dot_q4_0 != nullptr && relaxed::dot_q4_0_pair != nullptr;
}

KernelSet make_relaxed_kernels(const KernelSet& simd128) {
  using T = TensorType;
  KernelSet k = simd128;
  k.name = "simd128-relaxed";
  k.prepared[uint32_t(T::Q8_0)] = {relaxed::prepared_bytes, relaxed::prepare_q8_0, relaxed::dot_q8_0, nullptr, 0,
                                   relaxed::dot_q8_0_pair};
  k.prepared[uint32_t(T::Q4_0)] = {relaxed::prepared_bytes, relaxed::prepare_q8_0, relaxed::dot_q4_0, nullptr, 0,
                                   relaxed::dot_q4_0_pair};
  return k;
}

}  // namespace kvlite

#endif  // __wasm_simd128__
