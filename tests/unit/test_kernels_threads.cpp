// The thread pool and threaded matmul: every task runs exactly once, and
// logits are bit-identical for 1, 2 and 3 threads (each output element is
// computed by one thread with the same code, whatever the split). Under wasm
// without -pthread the pool runs everything on the caller, and the same
// checks hold trivially.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/kernel_set.h"
#include "kernels/matmul.h"
#include "kvlite/kvlite.h"
#include "support/temp_dir.h"
#include "types/tensor_type.h"
#include "util/thread_pool.h"

namespace kvlite {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (int32_t threads : {1, 2, 3, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), ThreadPool::threads_supported() ? threads : 1);
    for (int64_t n_tasks : {0, 1, 2, 3, 17, 1000}) {
      for (int repeat = 0; repeat < 20; ++repeat) {
        std::vector<std::atomic<int>> hits(size_t(n_tasks) + 1);
        std::atomic<bool> thread_in_range{true};
        pool.run(n_tasks, [&](int64_t task, int32_t thread) {
          hits[size_t(task)].fetch_add(1);
          if (thread < 0 || thread >= pool.size()) thread_in_range = false;
        });
        for (int64_t t = 0; t < n_tasks; ++t) ASSERT_EQ(hits[size_t(t)].load(), 1) << threads << " " << n_tasks;
        EXPECT_EQ(hits[size_t(n_tasks)].load(), 0);
        EXPECT_TRUE(thread_in_range.load());
      }
    }
  }
}

// Back-to-back jobs of alternating sizes, as a decode step's matmuls and
// attention make them: a worker that finishes the last task of a job while
// the next, larger job is being set up must not claim a task of either twice
// (a bug here ran a task twice and could leave the caller waiting forever).
TEST(ThreadPool, BackToBackJobsOfAlternatingSizes) {
  for (int32_t threads : {2, 3}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(64);
    for (int job = 0; job < 20000; ++job) {
      const int64_t n_tasks = job % 2 ? 64 : 2 + job % 5;
      for (int64_t t = 0; t < n_tasks; ++t) hits[size_t(t)].store(0, std::memory_order_relaxed);
      pool.run(n_tasks, [&](int64_t task, int32_t) { hits[size_t(task)].fetch_add(1, std::memory_order_relaxed); });
      for (int64_t t = 0; t < n_tasks; ++t) {
        ASSERT_EQ(hits[size_t(t)].load(), 1) << threads << " threads, job " << job << ", task " << t;
      }
    }
  }
}

TEST(ThreadPool, SurvivesIdleGapsLongerThanTheSpin) {
  ThreadPool pool(3);
  std::atomic<int> total{0};
  for (int round = 0; round < 3; ++round) {
    pool.run(10, [&](int64_t, int32_t) { total.fetch_add(1); });
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // workers go to sleep
  }
  EXPECT_EQ(total.load(), 30);
}

std::vector<uint8_t> quantized_matrix(TensorType type, int64_t rows, int64_t cols, uint32_t seed) {
  const TypeTraits& t = *type_traits(type);
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(size_t(rows * cols));
  for (float& v : x) v = dist(rng);
  std::vector<uint8_t> out(row_bytes(t, cols) * size_t(rows));
  for (int64_t r = 0; r < rows; ++r) t.from_float(&x[size_t(r * cols)], &out[row_bytes(t, cols) * size_t(r)], cols);
  return out;
}

// The matrix over `bytes` (rows whole, as quantized_matrix gives them), laid
// out as the loader lays it out (tiled or not), in place.
WeightMatrix laid_out(TensorType type, int64_t rows, int64_t cols, std::vector<uint8_t>& bytes, bool tile = true) {
  WeightMatrix w = weight_layout(*type_traits(type), rows, cols, tile);
  tile_in_place(w, bytes.data());
  w.data = bytes.data();
  return w;
}

// n normal values.
std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::vector<float> x(static_cast<size_t>(n));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  return x;
}

// Rows not a multiple of any task size; long rows (4160 columns, 130
// blocks: fewer rows per task, a remainder after the kernels' groups of four);
// and column tiles (4160 in two of 2080, 8448 in three of 2816).
TEST(ThreadedMatmul, BitIdenticalForAnyThreadCount) {
  struct Shape { int64_t rows, cols; bool tiled; };
  for (const Shape shape : {Shape{1000, 512, false}, Shape{300, 4160, false}, Shape{300, 4160, true},
                            Shape{300, 8448, true}})
  for (TensorType type : {TensorType::Q8_0, TensorType::F32, TensorType::Q4_K, TensorType::Q4_0}) {
    if (shape.cols % type_traits(type)->block_size != 0) continue;
    const int64_t rows = shape.rows, cols = shape.cols;
    std::vector<uint8_t> data = quantized_matrix(type, rows, cols, 7);
    const WeightMatrix w = laid_out(type, rows, cols, data, shape.tiled);
    for (int64_t n_tokens : {1, 5, 19}) {
      const std::vector<float> x = random_floats(n_tokens * cols, 11);
      std::vector<float> ref(size_t(n_tokens * rows));
      MatmulScratch scratch;
      matmul(w, x.data(), n_tokens, ref.data(), scratch);
      for (int64_t t = 0; t < n_tokens; ++t) {  // a batch gives each token what it gets alone
        std::vector<float> alone(static_cast<size_t>(rows));
        matmul(w, x.data() + t * cols, 1, alone.data(), scratch);
        ASSERT_EQ(0, std::memcmp(alone.data(), ref.data() + t * rows, alone.size() * sizeof(float)))
            << w.traits->name << " token " << t << " of " << n_tokens;
      }
      for (int32_t threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        std::vector<float> y(ref.size());
        matmul(w, x.data(), n_tokens, y.data(), scratch, &pool);
        ASSERT_EQ(0, std::memcmp(y.data(), ref.data(), y.size() * sizeof(float)))
            << w.traits->name << " tokens " << n_tokens << " threads " << threads;
      }
    }
  }
}

// The layout: rows longer than kMaxTileCols in the fewest equal tiles that
// split into whole blocks of the weights and of their activations.
TEST(WeightLayout, TilesOnlyLongRowsAndOnlyAtBlockBoundaries) {
  const TypeTraits& q8 = *type_traits(TensorType::Q8_0);
  const TypeTraits& q4k = *type_traits(TensorType::Q4_K);
  struct Case { const TypeTraits* t; int64_t cols; bool tile; int64_t tile_cols; };
  for (const Case c : {Case{&q8, 2048, true, 0}, Case{&q8, 4096, true, 0}, Case{&q8, 8192, true, 4096},
                       Case{&q8, 8192, false, 0}, Case{&q8, 11008, true, 2752}, Case{&q4k, 11008, true, 0},
                       Case{&q4k, 14336, true, 3584}, Case{&q8, 4160, true, 2080}, Case{&q4k, 8448, true, 2816}}) {
    const WeightMatrix m = weight_layout(*c.t, 300, c.cols, c.tile);
    EXPECT_EQ(m.tile_cols, c.tile_cols) << c.t->name << " " << c.cols;
    EXPECT_EQ(m.row_stride * 300 * size_t(m.n_tiles()), row_bytes(*c.t, c.cols) * 300) << c.t->name << " " << c.cols;
    if (m.tile_cols) {
      EXPECT_EQ(m.row_stride, row_bytes(*c.t, m.tile_cols));
      EXPECT_EQ(m.tile_stride, m.row_stride * 300);
    }
  }
}

// Tiling in place loses and moves nothing: every row reads back as it was.
TEST(WeightLayout, TiledRowsReadBackUnchanged) {
  for (TensorType type : {TensorType::Q8_0, TensorType::Q4_K, TensorType::F32, TensorType::F16}) {
    for (const int64_t rows : {1, 7, 300}) {
      const int64_t cols = 8448;
      std::vector<uint8_t> whole = quantized_matrix(type, rows, cols, 3), tiled = whole;
      const WeightMatrix w = laid_out(type, rows, cols, tiled), plain = laid_out(type, rows, cols, whole, false);
      ASSERT_EQ(w.n_tiles(), 3);
      if (rows > 1) {
        EXPECT_NE(0, std::memcmp(tiled.data(), whole.data(), whole.size())) << "nothing moved";
      }
      std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        dequantize_row(w, r, a.data());
        dequantize_row(plain, r, b.data());
        ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << w.traits->name << " row " << r;
      }
    }
  }
}

// Every kernel set gives a tiled matrix the products it gives the same
// matrix with whole rows, up to the order of the float sums.
TEST(WeightLayout, TiledProductsMatchWholeRowsInEveryKernelSet) {
  const KernelSet& before = active_kernels();
  const int64_t rows = 96, cols = 8448;
  for (const KernelSet* set : available_kernel_sets()) {
    use_kernels(*set);
    for (TensorType type : {TensorType::Q8_0, TensorType::Q4_0, TensorType::Q4_K, TensorType::Q6_K, TensorType::F16}) {
      std::vector<uint8_t> whole = quantized_matrix(type, rows, cols, 5), tiled = whole;
      const WeightMatrix t = laid_out(type, rows, cols, tiled), w = laid_out(type, rows, cols, whole, false);
      for (int64_t n_tokens : {1, 3, 10}) {
        const std::vector<float> x = random_floats(n_tokens * cols, 2);
        std::vector<float> yt(size_t(n_tokens * rows)), yw(yt.size());
        MatmulScratch scratch;
        matmul(t, x.data(), n_tokens, yt.data(), scratch);
        matmul(w, x.data(), n_tokens, yw.data(), scratch);
        for (size_t i = 0; i < yt.size(); ++i) {
          // Each product sums 8448 terms of size about 1: a few ulps of that.
          ASSERT_NEAR(yt[i], yw[i], 1e-4f * (1.0f + std::fabs(yw[i])))
              << set->name << " " << type_traits(type)->name << " tokens " << n_tokens << " element " << i;
        }
      }
    }
  }
  use_kernels(before);
}

// Prefill and decode logits with 1, 2 and 3 threads, bit for bit: matrix
// rows and attention heads are split, never an output. With a compressed,
// evicting cache collecting statistics, the KV heads also update their H2O
// scores and statistics from different threads; statistics must match too.
// n_ff above kMaxTileCols puts ffn_down in column tiles.
void expect_threads_change_nothing(const KvConfig& kv, int32_t n_ff = 256) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.n_layer = 2;
  spec.n_embd = 128;
  spec.n_head = 4;
  spec.n_head_kv = 2;
  spec.n_ff = n_ff;
  spec.weight_type = "Q8_0";
  const std::string path = dir.path("threads.gguf");
  ASSERT_TRUE(write_random_model(spec, path).ok());
  auto model = Model::load_file(path);
  ASSERT_TRUE(model.ok()) << model.message();
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back(3 + (i * 29) % 300);

  std::vector<std::vector<float>> runs;
  std::vector<std::vector<double>> stats;
  for (int32_t threads : {1, 2, 3}) {
    SessionParams sp;
    sp.threads = threads;
    sp.kv = kv;
    auto s = Session::create(model.value(), sp);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_TRUE(s.value()->eval(prompt, true).ok());  // prefill, every position's logits
    std::vector<float> all;
    for (int32_t i = 0; i < int32_t(prompt.size()); ++i) {
      auto l = s.value()->logits(i);
      all.insert(all.end(), l.begin(), l.end());
    }
    for (int step = 0; step < 5; ++step) {  // decode
      const int32_t id = 3 + step;
      ASSERT_TRUE(s.value()->eval(std::span<const int32_t>(&id, 1)).ok());
      auto l = s.value()->logits();
      all.insert(all.end(), l.begin(), l.end());
    }
    runs.push_back(std::move(all));
    std::vector<double> st;
    for (const KvLayerStats& layer : s.value()->kv_stats().layers) {
      st.push_back(double(layer.tokens)), st.push_back(double(layer.evicted));
      st.push_back(layer.entropy_bits), st.push_back(layer.recent_share);
    }
    stats.push_back(std::move(st));
  }
  for (size_t i = 1; i < runs.size(); ++i) {
    ASSERT_EQ(runs[i].size(), runs[0].size());
    EXPECT_EQ(0, std::memcmp(runs[i].data(), runs[0].data(), runs[0].size() * sizeof(float))) << i + 1 << " threads";
    EXPECT_EQ(stats[i], stats[0]) << i + 1 << " threads";
  }
}

TEST(ThreadedSession, LogitsBitIdenticalFor1To3Threads) { expect_threads_change_nothing(KvConfig{}); }

TEST(ThreadedSession, TiledFfnDownBitIdenticalFor1To3Threads) { expect_threads_change_nothing(KvConfig{}, 4608); }

// The loader's tiles change only the order of float sums: a model loaded
// with them gives the logits it gives with whole rows, within rounding. F32
// weights, so activations stay floats: with Q8_0 weights a last-bit change can
// round an activation to the next 8-bit step in the next layer, a jump of
// about 1% that any change of summation order can make (measured: the AVX2
// and scalar kernels differ that much on a 4352-wide random model).
TEST(WeightLayout, TiledModelGivesTheLogitsOfWholeRows) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.n_embd = 128;
  spec.n_ff = 4608;  // ffn_down: two tiles of 2304
  spec.weight_type = "F32";
  const std::string path = dir.path("tiled.gguf");
  ASSERT_TRUE(write_random_model(spec, path).ok());
  std::vector<std::vector<float>> logits;
  for (bool tile : {true, false}) {
    LoadParams lp;
    lp.tile_long_rows = tile;
    auto model = Model::load_file(path, lp);
    ASSERT_TRUE(model.ok()) << model.message();
    auto s = Session::create(model.value(), SessionParams{});
    ASSERT_TRUE(s.ok()) << s.message();
    std::vector<int32_t> prompt;
    for (int i = 0; i < 12; ++i) prompt.push_back(3 + (i * 37) % 300);
    ASSERT_TRUE(s.value()->eval(prompt).ok());
    auto l = s.value()->logits();
    logits.emplace_back(l.begin(), l.end());
  }
  float scale = 0, diff = 0;
  for (size_t i = 0; i < logits[0].size(); ++i) {
    scale = std::max(scale, std::fabs(logits[1][i]));
    diff = std::max(diff, std::fabs(logits[0][i] - logits[1][i]));
  }
  EXPECT_GT(scale, 0.0f);
  EXPECT_LT(diff, 1e-5f * scale) << "largest logit " << scale;
}

// Fused matrices ([q|k|v], [gate|up]) are split into row ranges; a range of
// a tiled matrix reaches into every tile and gives those rows' products bit
// for bit.
TEST(WeightLayout, RowRangeOfATiledMatrix) {
  const int64_t rows = 300, cols = 8448, first = 100, count = 57;
  std::vector<uint8_t> data = quantized_matrix(TensorType::Q8_0, rows, cols, 9);
  const WeightMatrix w = laid_out(TensorType::Q8_0, rows, cols, data);
  const WeightMatrix part = w.row_range(first, count);
  ASSERT_EQ(part.n_tiles(), 3);
  std::vector<float> a(static_cast<size_t>(cols)), b(static_cast<size_t>(cols));
  for (int64_t r = 0; r < count; ++r) {
    dequantize_row(part, r, a.data());
    dequantize_row(w, first + r, b.data());
    ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "row " << r;
  }
  for (int64_t n_tokens : {1, 6}) {
    const std::vector<float> x = random_floats(n_tokens * cols, 4);
    std::vector<float> all(size_t(n_tokens * rows)), some(size_t(n_tokens * count));
    MatmulScratch scratch;
    matmul(w, x.data(), n_tokens, all.data(), scratch);
    matmul(part, x.data(), n_tokens, some.data(), scratch);
    for (int64_t t = 0; t < n_tokens; ++t) {
      ASSERT_EQ(0, std::memcmp(some.data() + t * count, all.data() + t * rows + first, size_t(count) * sizeof(float)))
          << "token " << t;
    }
  }
}

TEST(ThreadedSession, CompressedEvictingCacheBitIdenticalFor1To3Threads) {
  KvConfig kv;
  kv.k_type = KvType::Q4;
  kv.v_type = KvType::Q4;
  kv.window = 8;
  kv.sinks = 2;
  kv.eviction = KvEviction::H2O;
  kv.budget = 24;
  kv.attention_stats = true;
  expect_threads_change_nothing(kv);
}

TEST(ThreadedSession, RejectsZeroThreads) {
  test::TempDir dir;
  const std::string path = dir.path("tiny.gguf");
  ASSERT_TRUE(write_random_model(RandomModelSpec{}, path).ok());
  auto model = Model::load_file(path);
  ASSERT_TRUE(model.ok());
  SessionParams sp;
  sp.threads = 0;
  EXPECT_FALSE(Session::create(model.value(), sp).ok());
}

}  // namespace
}  // namespace kvlite
