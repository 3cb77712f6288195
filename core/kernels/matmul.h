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

// A weight matrix as stored: `rows` rows of `cols` values of `traits->type`,
// each row whole, or in column tiles (see weight_layout).
struct WeightMatrix {
  const TypeTraits* traits = nullptr;
  int64_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  size_t row_stride = 0;  // bytes per row (per row of one tile when tiled)
  // 0 when rows are whole. Otherwise the columns are cut into cols / tile_cols
  // tiles of equal width, each stored as its own rows x tile_cols matrix,
  // tile_stride bytes after the one before.
  int64_t tile_cols = 0;
  size_t tile_stride = 0;

  int64_t n_tiles() const { return tile_cols ? cols / tile_cols : 1; }
  // Row r (of tile 0 when tiled).
  const uint8_t* row(int64_t r) const { return data + size_t(r) * row_stride; }
  // Rows first .. first + count - 1, sharing the bytes: of every tile, as
  // tile_stride stays the whole matrix's.
  WeightMatrix row_range(int64_t first, int64_t count) const {
    WeightMatrix m = *this;
    m.data = row(first);
    m.rows = count;
    return m;
  }
  // Tile k as a matrix of whole rows (the matrix itself when untiled).
  WeightMatrix tile(int64_t k) const {
    if (!tile_cols) return *this;
    return WeightMatrix{traits, rows, tile_cols, data + size_t(k) * tile_stride, row_stride};
  }
};

// Rows longer than this are stored in column tiles. A matrix-vector product
// keeps a token's activations for a whole row hot while the weights stream
// past; for ffn_down's 8192 columns that is 16 KiB of SIMD128 prepared
// activations, and the weight stream pushes them out of L1. Measured on a
// harness with the engine's loop (2048 rows x 8192 columns, node 20 and
// Chromium 156): 15.5-16.7 GB/s with whole rows, 20.0-21.4 with tiles of
// 1024, 2048 or 4096 columns, the speed of the 2048-column shapes.
constexpr int64_t kMaxTileCols = 4096;
// Narrower tiles would only add partial sums.
constexpr int64_t kMinTileCols = 1024;

// How kvlite stores a rows x cols matrix of type t: rows whole when cols <=
// kMaxTileCols (or when `tile` is false), else in the fewest equal tiles of
// kMinTileCols to kMaxTileCols columns that split cleanly into the blocks of
// the type and of its activations (rows whole when there is no such split).
// data is null.
WeightMatrix weight_layout(const TypeTraits& t, int64_t rows, int64_t cols, bool tile = true);

// Reorders a matrix's bytes, given with rows whole and consecutive (as a GGUF
// file stores them), into m's layout, in place: loading needs no second copy.
void tile_in_place(const WeightMatrix& m, uint8_t* data);

// Scratch for converted activations, reused across calls to avoid allocation.
struct MatmulScratch {
  std::vector<uint8_t> converted;
  std::vector<uint8_t> prepared;  // for kernels with a PreparedDot
  std::vector<float> partial;     // tiles 1.. of a tiled matrix's products
};

// Y[t][r] = W.row(r) . X[t] for t < n_tokens; X is n_tokens x cols, Y is n_tokens x rows.
// With a pool, rows are shared out among its threads; every Y element is
// computed by one thread with the same code, so results do not depend on the
// number of threads. For a tiled matrix each tile's products are computed
// like a matrix of their own and Y is their sum, tile 0 first, so that too is
// the same whatever the thread count or batch.
void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch,
            ThreadPool* pool = nullptr);

// One row of W as floats (embedding look-up).
void dequantize_row(const WeightMatrix& w, int64_t r, float* out);

}  // namespace kvlite
