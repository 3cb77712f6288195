#include "kernels/matmul.h"

#include <algorithm>

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

void matmul(const WeightMatrix& w, const float* x, int64_t n_tokens, float* y, MatmulScratch& scratch,
            ThreadPool* pool) {
  const KernelSet& kernels = active_kernels();
  const TypeTraits* act = type_traits(w.traits->vec_dot_type);
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
  VecDotFn dot = kernels.vec_dot[uint32_t(w.traits->type)];
  decltype(PreparedDot::dot_multi) dot_multi = nullptr;
  int32_t multi_rows = 0;
  decltype(PreparedDot::dot_pair) dot_pair = nullptr;
  const PreparedDot& prepared = kernels.prepared[uint32_t(w.traits->type)];
  size_t act_stride = act_row_bytes;
  if (prepared.dot) {
    act_stride = prepared.bytes(w.cols);
    scratch.prepared.resize(act_stride * size_t(n_tokens) + 16);
    // 16-byte alignment for the vector loads of the prepared rows.
    uint8_t* out = scratch.prepared.data() + (16 - reinterpret_cast<uintptr_t>(scratch.prepared.data()) % 16) % 16;
    const uint8_t* in = act_data;
    run(n_tokens > 1 ? pool : nullptr, n_tokens, [&](int64_t t) {
      prepared.prepare(in + size_t(t) * act_row_bytes, w.cols, out + size_t(t) * act_stride);
    });
    act_data = out;
    dot = prepared.dot;
    dot_pair = prepared.dot_pair;
    if (prepared.dot_multi && prepared.multi_rows <= kMaxMultiRows) {
      dot_multi = prepared.dot_multi;
      multi_rows = prepared.multi_rows;
    }
  }
  const int64_t rows_per_task = std::max<int64_t>(1, int64_t(kTaskBytes / std::max<size_t>(w.row_stride, 1)));
  const int64_t n_tasks = (w.rows + rows_per_task - 1) / rows_per_task;
  run(pool, n_tasks, [&](int64_t task) {
    const int64_t r0 = task * rows_per_task, r1 = std::min(w.rows, r0 + rows_per_task);
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokenTile) {
      const int64_t t1 = std::min(n_tokens, t0 + kTokenTile);
      int64_t r = r0;
      if (dot_multi) {
        // Rows i, i + part, i + 2 part...: streams far enough apart in memory
        // to be fetched independently, sharing the activations' loads.
        const int64_t part = (r1 - r0) / multi_rows;
        for (int64_t i = r0; i < r0 + part; ++i) {
          const void* rows[kMaxMultiRows];
          for (int32_t j = 0; j < multi_rows; ++j) rows[j] = w.row(i + j * part);
          for (int64_t t = t0; t < t1; ++t) {
            float out[kMaxMultiRows];
            dot_multi(w.cols, rows, act_data + size_t(t) * act_stride, out);
            for (int32_t j = 0; j < multi_rows; ++j) y[t * w.rows + i + j * part] = out[j];
          }
        }
        r = r0 + multi_rows * part;
      }
      for (; r < r1; ++r) {
        const uint8_t* wrow = w.row(r);
        int64_t t = t0;
        if (dot_pair) {
          for (; t + 2 <= t1; t += 2) {
            float out[2];
            dot_pair(w.cols, wrow, act_data + size_t(t) * act_stride, act_stride, out);
            y[t * w.rows + r] = out[0];
            y[(t + 1) * w.rows + r] = out[1];
          }
        }
        for (; t < t1; ++t) y[t * w.rows + r] = dot(w.cols, wrow, act_data + size_t(t) * act_stride);
      }
    }
  });
}

void dequantize_row(const WeightMatrix& w, int64_t r, float* out) { w.traits->to_float(w.row(r), out, w.cols); }

}  // namespace kvlite
