// Matrix products against weights of any tensor type. The kernels come from
// the active KernelSet (kernel_set.h), the one place that chooses them; this
// converts activations to the type's vec_dot_type once per call and spreads
// the rows over a thread pool.
#pragma once

#include <cstdint>
#include <vector>

#include "types/tensor_type.h"

namespace kvlite {

class ThreadPool;

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
  std::vector<uint8_t> prepared;  // for kernels with a PreparedDot
};

// Y[t][r] = W.row(r) . X[t] for t < n_tokens; X is n_tokens x cols, Y is n_tokens x rows.
// With a pool, rows are shared out among its threads; every Y element is
// computed by one thread with the same code, so results do not depend on the
// number of threads.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch,
            ThreadPool* pool = nullptr);

// One row of W as floats (embedding look-up).
void dequantize_row(const WeightMatrix& w, int64_t r, float* out);

}  // namespace kvlite
