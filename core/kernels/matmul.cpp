#include "kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "kernels/kernel_set.h"
#include "util/thread_pool.h"

namespace kvlite {

namespace {

// Rows per task: about this many weight bytes, so a task's rows stay in L2
// while every token of a prefill batch passes over them (weights then come
// from memory once per batch, not once per token), and a decode step still
// has dozens of tasks to balance between threads.
constexpr size_t kTaskBytes = 64 * 1024;
// Tokens per pass over a task's rows: their activations stay in L1.
constexpr int64_t kTokenTile = 8;
constexpr int32_t kMaxMultiRows = 8;

void run(ThreadPool* pool, int64_t n_tasks, auto&& fn) {
  if (pool) {
    pool->run(n_tasks, [&](int64_t task, int32_t) { fn(task); });
  } else {
    for (int64_t t = 0; t < n_tasks; ++t) fn(t);
  }
}

}  // namespace

WeightMatrix weight_layout(const TypeTraits& t, int64_t rows, int64_t cols, bool tile) {
  WeightMatrix m{&t, rows, cols, nullptr, row_bytes(t, cols)};
  if (!tile || cols <= kMaxTileCols) return m;
  const int64_t unit = std::lcm(t.block_size, type_traits(t.vec_dot_type)->block_size);
  for (int64_t n = 2; cols / n >= std::max(unit, kMinTileCols); ++n) {
    const int64_t tc = cols / n;
    if (cols % n != 0 || tc % unit != 0 || tc > kMaxTileCols) continue;
    m.tile_cols = tc;
    m.row_stride = row_bytes(t, tc);
    m.tile_stride = m.row_stride * size_t(rows);
    break;
  }
  return m;
}

void tile_in_place(const WeightMatrix& m, uint8_t* data) {
  const int64_t tiles = m.n_tiles(), n = m.rows * tiles;
  if (tiles == 1) return;
  // A transpose of a rows x tiles matrix of chunks (one tile's part of a
  // row): the chunk for place k * rows + r is at r * tiles + k. Each cycle of
  // that permutation is walked once, with one chunk held aside.
  const size_t chunk = m.row_stride;
  std::vector<uint8_t> held(chunk);
  std::vector<bool> done(size_t(n), false);
  auto source_of = [&](int64_t place) { return (place % m.rows) * tiles + place / m.rows; };
  for (int64_t start = 0; start < n; ++start) {
    if (done[size_t(start)]) continue;
    std::memcpy(held.data(), data + size_t(start) * chunk, chunk);
    int64_t place = start;
    for (int64_t from = source_of(place); from != start; place = from, from = source_of(place)) {
      std::memcpy(data + size_t(place) * chunk, data + size_t(from) * chunk, chunk);
      done[size_t(place)] = true;
    }
    std::memcpy(data + size_t(place) * chunk, held.data(), chunk);
    done[size_t(place)] = true;
  }
}

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch,
            ThreadPool* pool) {
  const KernelSet& kernels = active_kernels();
  const TypeTraits* act = type_traits(w.traits->vec_dot_type);
  const int64_t n_tiles = w.n_tiles(), tile_cols = w.cols / n_tiles;
  const size_t act_row_bytes = row_bytes(*act, w.cols);
  const uint8_t* act_data = reinterpret_cast<const uint8_t*>(x);
  if (act->type != TensorType::F32) {
    scratch.converted.resize(act_row_bytes * size_t(n_tokens));
    const FromFloatFn quantize = kernels.quantize[uint32_t(act->type)];
    uint8_t* out = scratch.converted.data();
    run(n_tokens > 1 ? pool : nullptr, n_tokens,
        [&](int64_t t) { quantize(x + t * w.cols, out + size_t(t) * act_row_bytes, w.cols); });
    act_data = scratch.converted.data();
  }
  // Tile k of token t's activations: act_data + t * act_stride + k * act_tile.
  size_t act_stride = act_row_bytes, act_tile = row_bytes(*act, tile_cols);
  VecDotFn dot = kernels.vec_dot[uint32_t(w.traits->type)];
  decltype(PreparedDot::dot_multi) dot_multi = nullptr;
  int32_t multi_rows = 0;
  decltype(PreparedDot::dot_pair) dot_pair = nullptr;
  const PreparedDot& prepared = kernels.prepared[uint32_t(w.traits->type)];
  if (prepared.dot) {
    // Each tile of each token is prepared as a row of its own.
    const size_t tile_bytes = prepared.bytes(tile_cols);
    scratch.prepared.resize(tile_bytes * size_t(n_tiles * n_tokens) + 16);
    // 16-byte alignment for the vector loads of the prepared rows.
    uint8_t* out = scratch.prepared.data() + (16 - reinterpret_cast<uintptr_t>(scratch.prepared.data()) % 16) % 16;
    const uint8_t* in = act_data;
    run(n_tokens > 1 ? pool : nullptr, n_tokens, [&](int64_t t) {
      for (int64_t k = 0; k < n_tiles; ++k) {
        prepared.prepare(in + size_t(t) * act_row_bytes + size_t(k) * act_tile, tile_cols,
                         out + size_t(t * n_tiles + k) * tile_bytes);
      }
    });
    act_data = out;
    act_tile = tile_bytes;
    act_stride = tile_bytes * size_t(n_tiles);
    dot = prepared.dot;
    dot_pair = prepared.dot_pair;
    if (prepared.dot_multi && prepared.multi_rows <= kMaxMultiRows) {
      dot_multi = prepared.dot_multi;
      multi_rows = prepared.multi_rows;
    }
  }
  // Tile 0's products go to y, tile k's to partial[k - 1], summed at the end.
  if (n_tiles > 1) scratch.partial.resize(size_t((n_tiles - 1) * n_tokens * w.rows));
  const int64_t rows_per_task = std::max<int64_t>(1, int64_t(kTaskBytes / std::max<size_t>(w.row_stride, 1)));
  const int64_t tasks_per_tile = (w.rows + rows_per_task - 1) / rows_per_task;
  run(pool, tasks_per_tile * n_tiles, [&](int64_t task) {
    const int64_t k = task / tasks_per_tile;
    const WeightMatrix m = w.tile(k);
    const uint8_t* a = act_data + size_t(k) * act_tile;
    float* o = k == 0 ? y : scratch.partial.data() + size_t((k - 1) * n_tokens * w.rows);
    const int64_t r0 = (task % tasks_per_tile) * rows_per_task, r1 = std::min(w.rows, r0 + rows_per_task);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
      const int64_t t1 = std::min(n_tokens, t0 + kTokenTile);
      int64_t r = r0;
      if (dot_multi) {
        // Rows i, i + part, i + 2 part...: streams far enough apart in memory
        // to be fetched independently, sharing the activations' loads.
        const int64_t part = (r1 - r0) / multi_rows;
        for (int64_t i = r0; i < r0 + part; ++i) {
          const void* rows[kMaxMultiRows];
          for (int32_t j = 0; j < multi_rows; ++j) rows[j] = m.row(i + j * part);
          for (int64_t t = t0; t < t1; ++t) {
            float out[kMaxMultiRows];
            dot_multi(m.cols, rows, a + size_t(t) * act_stride, out);
            for (int32_t j = 0; j < multi_rows; ++j) o[t * m.rows + i + j * part] = out[j];
          }
        }
        r = r0 + multi_rows * part;
      }
      for (; r < r1; ++r) {
        const uint8_t* wrow = m.row(r);
        int64_t t = t0;
        if (dot_pair) {
          for (; t + 2 <= t1; t += 2) {
            float out[2];
            dot_pair(m.cols, wrow, a + size_t(t) * act_stride, act_stride, out);
            o[t * m.rows + r] = out[0];
            o[(t + 1) * m.rows + r] = out[1];
          }
        }
        for (; t < t1; ++t) o[t * m.rows + r] = dot(m.cols, wrow, a + size_t(t) * act_stride);
      }
    }
  });
  for (int64_t k = 1; k < n_tiles; ++k) {
    kernels.add(y, scratch.partial.data() + size_t((k - 1) * n_tokens * w.rows), n_tokens * w.rows);
  }
}

void dequantize_row(const WeightMatrix& w, int64_t r, float* out) {
  for (int64_t k = 0; k < w.n_tiles(); ++k) {
    const WeightMatrix m = w.tile(k);
    w.traits->to_float(m.row(r), out + k * m.cols, m.cols);
  }
}

}  // namespace kvlite
