// The scalar reference kernels behind the rows of the type table, one set per
// type (signatures as in tensor_type.h). Only tensor_types.cpp and the tests
// should need these names; everything else goes through type_traits().
#pragma once

#include <cstdint>

namespace kvlite::kernels {

#define KVLITE_DECLARE_TYPE_KERNELS(T)                                    \
  void to_float_##T(const void* src, float* dst, int64_t n);              \
  void from_float_##T(const float* src, void* dst, int64_t n);            \
  float vec_dot_##T(int64_t n, const void* weights, const void* activations);

KVLITE_DECLARE_TYPE_KERNELS(f32)
KVLITE_DECLARE_TYPE_KERNELS(f16)
KVLITE_DECLARE_TYPE_KERNELS(bf16)
KVLITE_DECLARE_TYPE_KERNELS(q4_0)
KVLITE_DECLARE_TYPE_KERNELS(q4_1)
KVLITE_DECLARE_TYPE_KERNELS(q5_0)
KVLITE_DECLARE_TYPE_KERNELS(q5_1)
KVLITE_DECLARE_TYPE_KERNELS(q8_0)
KVLITE_DECLARE_TYPE_KERNELS(iq4_nl)
KVLITE_DECLARE_TYPE_KERNELS(q2_k)
KVLITE_DECLARE_TYPE_KERNELS(q3_k)
KVLITE_DECLARE_TYPE_KERNELS(q4_k)
KVLITE_DECLARE_TYPE_KERNELS(q5_k)
KVLITE_DECLARE_TYPE_KERNELS(q6_k)

#undef KVLITE_DECLARE_TYPE_KERNELS

// Activation-only types: no vec_dot of their own.
void to_float_q8_1(const void* src, float* dst, int64_t n);
void from_float_q8_1(const float* src, void* dst, int64_t n);
void to_float_q8_k(const void* src, float* dst, int64_t n);
void from_float_q8_k(const float* src, void* dst, int64_t n);

}  // namespace kvlite::kernels
