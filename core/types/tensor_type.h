// Tensor element types, one table row each (after ggml's type traits): adding a
// weight format is adding a row and its kernels; nothing else changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kvlite {

// Values are GGUF's on-disk type ids.
enum class TensorType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  BF16 = 30,
};

// Dequantize n values (n a multiple of block_size).
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
// Quantize n values (n a multiple of block_size); reference rounding.
using FromFloatFn = void (*)(const float* src, void* dst, int64_t n);
// Dot product of n weights of this type with n activations already converted
// to vec_dot_type (n a multiple of both block sizes).
using VecDotFn = float (*)(int64_t n, const void* weights, const void* activations);

struct TypeTraits {
  TensorType type;
  const char* name;          // "Q8_0", as llama.cpp names it
  int64_t block_size;        // values per block
  size_t block_bytes;        // bytes per block
  ToFloatFn to_float;        // never null for a row in the table
  FromFloatFn from_float;    // null where quantizing is not supported
  VecDotFn vec_dot;          // null for activation-only types (Q8_K, Q8_1)
  TensorType vec_dot_type;   // what activations are converted to for vec_dot
};

// The row for a type, or nullptr when kvlite does not know the type.
const TypeTraits* type_traits(TensorType type);
// Same, from a raw GGUF type id.
const TypeTraits* type_traits(uint32_t raw_type);
// Bytes taken by a row of n values; n must be a multiple of the block size.
size_t row_bytes(const TypeTraits& traits, int64_t n);
// "Q8_0", or "type 42" when unknown.
std::string_view type_name(uint32_t raw_type);

}  // namespace kvlite
