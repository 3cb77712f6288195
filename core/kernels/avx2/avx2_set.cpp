// Assembles the AVX2 KernelSet: the scalar set with every entry that has an
// AVX2 twin replaced.
#if defined(__x86_64__)
#include "kernels/kernel_set.h"
#include "kernels/avx2/avx2_kernels.h"

namespace kvlite {

KernelSet make_avx2_kernels(const KernelSet& base) {
  using T = TensorType;
  KernelSet k = base;
  k.name = "avx2";
  auto set_dot = [&](T type, VecDotFn fn) { k.vec_dot[uint32_t(type)] = fn; };
  set_dot(T::Q8_0, avx2::vec_dot_q8_0);
  set_dot(T::Q4_0, avx2::vec_dot_q4_0);
  set_dot(T::Q4_1, avx2::vec_dot_q4_1);
  set_dot(T::Q5_0, avx2::vec_dot_q5_0);
  set_dot(T::Q5_1, avx2::vec_dot_q5_1);
  set_dot(T::IQ4_NL, avx2::vec_dot_iq4_nl);
  set_dot(T::Q4_K, avx2::vec_dot_q4_k);
  set_dot(T::Q5_K, avx2::vec_dot_q5_k);
  set_dot(T::Q6_K, avx2::vec_dot_q6_k);
  set_dot(T::F32, avx2::vec_dot_f32);
  set_dot(T::F16, avx2::vec_dot_f16);
  set_dot(T::BF16, avx2::vec_dot_bf16);
  k.prepared[uint32_t(T::Q8_0)] = {avx2::q8_0_act_bytes, avx2::copy_q8_0_act, avx2::vec_dot_q8_0,
                                   avx2::vec_dot_q8_0_2, 2, nullptr};
  k.quantize[uint32_t(T::Q8_0)] = avx2::quantize_q8_0;
  k.quantize[uint32_t(T::Q8_1)] = avx2::quantize_q8_1;
  k.quantize[uint32_t(T::Q8_K)] = avx2::quantize_q8_k;
  k.rmsnorm = avx2::rmsnorm;
  k.softmax = avx2::softmax;
  k.swiglu = avx2::swiglu;
  k.add = avx2::add;
  k.dot_f32 = avx2::dot_f32;
  k.axpy = avx2::axpy;
  k.scale = avx2::scale;
  k.fp16_to_f32_row = avx2::fp16_to_f32_row;
  k.lut16_decode = avx2::lut16_decode;
  k.q4_scores = avx2::q4_scores;
  k.q4_accumulate = avx2::q4_accumulate;
  return k;
}

bool cpu_has_avx2_fma() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

}  // namespace kvlite

#endif  // __x86_64__
