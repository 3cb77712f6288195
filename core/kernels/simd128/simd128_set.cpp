// Assembles the SIMD128 KernelSet: the scalar set with every entry that has a
// SIMD128 twin replaced.
#if defined(__wasm_simd128__)
#include "kernels/kernel_set.h"
#include "kernels/simd128/simd128_kernels.h"

namespace kvlite {

KernelSet make_simd128_kernels(const KernelSet& base) {
  using T = TensorType;
  KernelSet k = base;
  k.name = "simd128";
  auto set_dot = [&](T type, VecDotFn fn) { k.vec_dot[uint32_t(type)] = fn; };
  set_dot(T::Q8_0, simd128::vec_dot_q8_0);
  set_dot(T::Q4_0, simd128::vec_dot_q4_0);
  set_dot(T::Q4_1, simd128::vec_dot_q4_1);
  set_dot(T::Q5_0, simd128::vec_dot_q5_0);
  set_dot(T::Q5_1, simd128::vec_dot_q5_1);
  set_dot(T::IQ4_NL, simd128::vec_dot_iq4_nl);
  set_dot(T::Q4_K, simd128::vec_dot_q4_k);
  set_dot(T::Q5_K, simd128::vec_dot_q5_k);
  set_dot(T::Q6_K, simd128::vec_dot_q6_k);
  set_dot(T::F32, simd128::vec_dot_f32);
  set_dot(T::F16, simd128::vec_dot_f16);
  set_dot(T::BF16, simd128::vec_dot_bf16);
  k.prepared[uint32_t(T::Q8_0)] = {simd128::q8_0_prepared_bytes, simd128::prepare_q8_0, simd128::dot_q8_0_prepared,
                                   nullptr, 0, simd128::dot_q8_0_prepared_pair};
  k.prepared[uint32_t(T::Q4_0)] = {simd128::q8_0_prepared_bytes, simd128::prepare_q8_0, simd128::dot_q4_0_prepared,
                                   nullptr, 0, simd128::dot_q4_0_prepared_pair};
  k.quantize[uint32_t(T::Q8_0)] = simd128::quantize_q8_0;
  k.quantize[uint32_t(T::Q8_1)] = simd128::quantize_q8_1;
  k.quantize[uint32_t(T::Q8_K)] = simd128::quantize_q8_k;
  k.rmsnorm = simd128::rmsnorm;
  k.softmax = simd128::softmax;
  k.swiglu = simd128::swiglu;
  k.add = simd128::add;
  k.dot_f32 = simd128::dot_f32;
  k.axpy = simd128::axpy;
  k.scale = simd128::scale;
  k.fp16_to_f32_row = simd128::fp16_to_f32_row;
  k.lut16_decode = simd128::lut16_decode;
  k.q4_scores = simd128::q4_scores;
  k.q4_accumulate = simd128::q4_accumulate;
  k.rope_rotate = simd128::rope_rotate;
  return k;
}

}  // namespace kvlite

#endif  // __wasm_simd128__
