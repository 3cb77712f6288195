#include "kernels/matmul.h"

#include <cstring>

namespace kvlite {

namespace {

// The dot kernel for a weight type: the table's scalar reference for now.
VecDotFn vec_dot_for(const TypeTraits& traits) { return traits.vec_dot; }

}  // namespace

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch) {
  const TypeTraits* act = type_traits(w.traits->vec_dot_type);
  const size_t act_row_bytes = row_bytes(*act, w.cols);
  const void* act_data = x;
  if (act->type != TensorType::F32) {
    scratch.converted.resize(act_row_bytes * size_t(n_tokens));
    for (int64_t t = 0; t < n_tokens; ++t) {
      act->from_float(x + t * w.cols, scratch.converted.data() + size_t(t) * act_row_bytes, w.cols);
    }
    act_data = scratch.converted.data();
  }
  const VecDotFn dot = vec_dot_for(*w.traits);
  const auto* act_bytes = static_cast<const uint8_t*>(act_data);
  // Rows outer, tokens inner: each weight row is read once per call.
  for (int64_t r = 0; r < w.rows; ++r) {
    const uint8_t* wrow = w.row(r);
    for (int64_t t = 0; t < n_tokens; ++t) {
      y[t * w.rows + r] = dot(w.cols, wrow, act_bytes + size_t(t) * act_row_bytes);
    }
  }
}

void dequantize_row(const WeightMatrix& w, int64_t r, float* out) { w.traits->to_float(w.row(r), out, w.cols); }

}  // namespace kvlite
