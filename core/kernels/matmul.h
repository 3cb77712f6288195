// Matrix products against weights of any tensor type. This is the one place
// that chooses a kernel for a type (scalar reference today; SIMD rows plug in
// here), and it converts activations to the type's vec_dot_type once per call.
#pragma once

#include <cstdint>
#include <vector>

#include "types/tensor_type.h"

namespace kvlite {

// A weight matrix as stored: `rows` rows of `cols` values of `traits->type`.
struct WeightMatrix {
  const TypeTraits* traits = nullptr;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;  // bytes per row
  const uint8_t* row(int64_t r) const { return data + size_t(r) * row_stride; }
};

// Scratch for converted activations, reused across calls to avoid allocation.
struct MatmulScratch {
  std::vector<uint8_t> converted;
};

// Y[t][r] = W.row(r) . X[t] for t < n_tokens; X is n_tokens x cols, Y is n_tokens x rows.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch);

// One row of W as floats (embedding look-up).
void dequantize_row(const WeightMatrix& w, int64_t r, float* out);

}  // namespace kvlite
