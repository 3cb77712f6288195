// The type table: one row per tensor type kvlite can read. Adding a format is
// adding its kernels and a row here.
#include <array>
#include <string>

#include "types/blocks.h"
#include "types/tensor_type.h"
#include "types/type_kernels.h"

namespace kvlite {
namespace {

using namespace kernels;
using T = TensorType;

constexpr std::array kTypeTable = {
    TypeTraits{T::F32, "F32", 1, 4, to_float_f32, from_float_f32, vec_dot_f32, T::F32},
    TypeTraits{T::F16, "F16", 1, 2, to_float_f16, from_float_f16, vec_dot_f16, T::F32},
    TypeTraits{T::BF16, "BF16", 1, 2, to_float_bf16, from_float_bf16, vec_dot_bf16, T::F32},
    TypeTraits{T::Q4_0, "Q4_0", kQK, sizeof(BlockQ4_0), to_float_q4_0, from_float_q4_0,
               vec_dot_q4_0, T::Q8_0},
    TypeTraits{T::Q4_1, "Q4_1", kQK, sizeof(BlockQ4_1), to_float_q4_1, from_float_q4_1,
               vec_dot_q4_1, T::Q8_1},
    TypeTraits{T::Q5_0, "Q5_0", kQK, sizeof(BlockQ5_0), to_float_q5_0, from_float_q5_0,
               vec_dot_q5_0, T::Q8_0},
    TypeTraits{T::Q5_1, "Q5_1", kQK, sizeof(BlockQ5_1), to_float_q5_1, from_float_q5_1,
               vec_dot_q5_1, T::Q8_1},
    TypeTraits{T::Q8_0, "Q8_0", kQK, sizeof(BlockQ8_0), to_float_q8_0, from_float_q8_0,
               vec_dot_q8_0, T::Q8_0},
    TypeTraits{T::Q8_1, "Q8_1", kQK, sizeof(BlockQ8_1), to_float_q8_1, from_float_q8_1,
               nullptr, T::Q8_1},
    TypeTraits{T::IQ4_NL, "IQ4_NL", kQK, sizeof(BlockIQ4_NL), to_float_iq4_nl,
               from_float_iq4_nl, vec_dot_iq4_nl, T::Q8_0},
    TypeTraits{T::Q2_K, "Q2_K", kQK_K, sizeof(BlockQ2_K), to_float_q2_k, from_float_q2_k,
               vec_dot_q2_k, T::Q8_K},
    TypeTraits{T::Q3_K, "Q3_K", kQK_K, sizeof(BlockQ3_K), to_float_q3_k, from_float_q3_k,
               vec_dot_q3_k, T::Q8_K},
    TypeTraits{T::Q4_K, "Q4_K", kQK_K, sizeof(BlockQ4_K), to_float_q4_k, from_float_q4_k,
               vec_dot_q4_k, T::Q8_K},
    TypeTraits{T::Q5_K, "Q5_K", kQK_K, sizeof(BlockQ5_K), to_float_q5_k, from_float_q5_k,
               vec_dot_q5_k, T::Q8_K},
    TypeTraits{T::Q6_K, "Q6_K", kQK_K, sizeof(BlockQ6_K), to_float_q6_k, from_float_q6_k,
               vec_dot_q6_k, T::Q8_K},
    TypeTraits{T::Q8_K, "Q8_K", kQK_K, sizeof(BlockQ8_K), to_float_q8_k, from_float_q8_k,
               nullptr, T::Q8_K},
};

constexpr uint32_t kNamedUnknownIds = 256;

}  // namespace

const TypeTraits* type_traits(uint32_t raw_type) {
  for (const TypeTraits& row : kTypeTable) {
    if (uint32_t(row.type) == raw_type) return &row;
  }
  return nullptr;
}

const TypeTraits* type_traits(TensorType type) { return type_traits(uint32_t(type)); }

size_t row_bytes(const TypeTraits& traits, int64_t n) {
  return size_t(n / traits.block_size) * traits.block_bytes;
}

std::string_view type_name(uint32_t raw_type) {
  if (const TypeTraits* row = type_traits(raw_type)) return row->name;
  // The returned view must stay valid, so unknown names come from a table
  // built once; ids past it are not real GGUF types, only corrupt files.
  static const std::array<std::string, kNamedUnknownIds> unknown = [] {
    std::array<std::string, kNamedUnknownIds> names;
    for (uint32_t id = 0; id < kNamedUnknownIds; ++id) names[id] = "type " + std::to_string(id);
    return names;
  }();
  return raw_type < kNamedUnknownIds ? std::string_view(unknown[raw_type]) : "type (out of range)";
}

}  // namespace kvlite
