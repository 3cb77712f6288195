// kvlite-bench: how close the kernels come to the memory-bandwidth limit, and
// what a second thread buys. Runs natively and under node:
//   build/native/bin/kvlite-bench [--quick]
//   node --no-experimental-fetch build/wasm/bin/kvlite-bench.js [--quick]
// Prints, for Q8_0 matrix-vector products at Llama-3.2-1B shapes, GB/s of
// weights streamed for every kernel set (scalar and SIMD) and as a percentage
// of a streaming-read probe of a large buffer; then prefill and decode speed
// of a generated 12-block model with 1 and 2 threads. --matrix-mib N sets
// how much memory the copies of each matrix fill (default 384; 1 keeps a
// single copy in cache, which shows the kernels' compute ceiling).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#if defined(__EMSCRIPTEN__)
#include <emscripten.h>
#endif

#include "kernels/kernel_set.h"
#include "kernels/matmul.h"
#include "kvlite/kvlite.h"
#include "types/blocks.h"
#include "util/fp16.h"
#include "util/thread_pool.h"

namespace kvlite {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs fn until at least min_seconds have passed (at least twice, the first
// call warming caches and pages); returns the best seconds per call.
template <class Fn>
double best_seconds(double min_seconds, Fn fn) {
  double best = 1e30, total = 0;
  for (int i = 0; i < 2 || total < min_seconds; ++i) {
    const auto t = Clock::now();
    fn();
    const double s = seconds_since(t);
    total += s;
    if (i > 0 || min_seconds == 0) best = std::min(best, s);
  }
  return best;
}

// ---- Memory bandwidth: a streaming read of a buffer far larger than cache ----

// Sixteen-byte vectors of the compiler's generic vector extension: SIMD128
// in wasm, SSE2 natively, so the probe needs no instruction-set code of its own.
typedef uint64_t u64x2 __attribute__((vector_size(16)));

uint64_t stream_read(const uint8_t* data, size_t bytes) {
  u64x2 a = {0, 0}, b = a, c = a, d = a;
  const size_t n = bytes / 64;
  for (size_t i = 0; i < n; ++i) {
    u64x2 v[4];
    std::memcpy(v, data + i * 64, 64);
    a += v[0];
    b += v[1];
    c += v[2];
    d += v[3];
  }
  const u64x2 s = a + b + c + d;
  return s[0] + s[1];
}

// Calls the read on a small buffer for a while first. WebAssembly engines
// start a function in a baseline compiler and switch to optimised code only
// at a later call, once it has run enough: a probe of a few long calls can be
// timed entirely in baseline code (measured: node 20 read 10.4 GB/s where the
// kernels streamed 18.6, and 22.8 GB/s in the next process).
void warm_stream_read(const uint8_t* data, size_t bytes) {
  volatile uint64_t sink = 0;
  const size_t n = std::min<size_t>(bytes, size_t(1) << 20);
  for (const auto t = Clock::now(); seconds_since(t) < 0.2;) sink = sink + stream_read(data, n);
}

double bandwidth_gbs(size_t bytes, double min_seconds) {
  std::vector<uint8_t> buf(bytes);
  for (size_t i = 0; i < bytes; i += 4096) buf[i] = uint8_t(i);  // touch every page
  warm_stream_read(buf.data(), buf.size());
  volatile uint64_t sink = 0;
  const double s = best_seconds(min_seconds, [&] { sink = sink + stream_read(buf.data(), buf.size()); });
  return double(bytes) / s / 1e9;
}

// ---- Q8_0 matrix-vector ------------------------------------------------------

struct Shape {
  int64_t rows, cols;
  const char* what;
  bool tiled = true;  // the loader's layout; false: rows whole, to compare
};

// Random codes and plausible scales: speed does not depend on the values.
std::vector<uint8_t> random_q8_0(int64_t rows, int64_t cols) {
  const size_t blocks = size_t(rows * cols / kQK);
  std::vector<uint8_t> data(blocks * sizeof(BlockQ8_0));
  auto* b = reinterpret_cast<BlockQ8_0*>(data.data());
  uint64_t state = 88172645463325252ull;
  for (size_t i = 0; i < blocks; ++i) {
    b[i].d = f32_to_fp16(0.002f + float(i % 7) * 1e-4f);
    for (int j = 0; j < kQK; j += 8) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      std::memcpy(b[i].qs + j, &state, 8);
    }
  }
  return data;
}

// Copies of one matrix filling `budget` bytes, used in turn, so each call
// streams its weights from memory as a model's layers do (one matrix alone
// would sit in the last-level cache and flatter the kernel).
struct MatrixCopies {
  std::vector<std::vector<uint8_t>> data;
  std::vector<WeightMatrix> w;
  size_t bytes_each = 0;
  // Laid out as the loader lays out a model's matrices (tiled: rows longer
  // than kMaxTileCols in column tiles), or with rows whole to compare.
  MatrixCopies(int64_t rows, int64_t cols, size_t budget, bool tiled = true) {
    bytes_each = size_t(rows * cols / kQK) * sizeof(BlockQ8_0);
    const size_t n = std::max<size_t>(1, (budget + bytes_each - 1) / bytes_each);
    for (size_t i = 0; i < n; ++i) {
      data.push_back(random_q8_0(rows, cols));
      w.push_back(weight_layout(*type_traits(TensorType::Q8_0), rows, cols, tiled));
      tile_in_place(w.back(), data.back().data());
      w.back().data = data.back().data();
    }
  }
};

// Seconds per product: the best pass through all copies (after a warm-up
// pass) over at least min_seconds. The best pass, not the mean, because this
// machine may be shared and a pass that lost the CPU says nothing of the kernel.
double cycled_seconds(const MatrixCopies& m, const std::vector<float>& x, int64_t n_tokens, ThreadPool* pool,
                      double min_seconds) {
  std::vector<float> y(size_t(m.w[0].rows * n_tokens));
  MatmulScratch scratch;
  auto pass = [&] {
    for (const WeightMatrix& w : m.w) matmul(w, x.data(), n_tokens, y.data(), scratch, pool);
  };
  return best_seconds(min_seconds, pass) / double(m.w.size());
}

// Streaming read of every copy once, as a kernel's pass reads them: the
// bandwidth limit measured on the very buffers the kernels stream.
double copies_read_seconds(const MatrixCopies& m, double min_seconds) {
  volatile uint64_t sink = 0;
  const double s = best_seconds(min_seconds, [&] {
    for (const std::vector<uint8_t>& d : m.data) sink = sink + stream_read(d.data(), d.size());
  });
  return s / double(m.data.size());
}

// Each shape is measured in `rounds` rounds, each a probe of its copies and
// then every kernel set, and each figure is the best of its rounds: spread in
// time, so that a slow spell of a shared machine costs one round, not the
// figure. Percentages are against the best probe of the whole run (the first
// one or any shape's), so a kernel is never flattered by a probe that lost
// the CPU; the results are printed when all are in.
void bench_matvec(double& bandwidth, bool quick, size_t budget_mib) {
  const Shape shapes[] = {
      {2048, 2048, "attn q/o"}, {8192, 2048, "ffn gate/up"}, {2048, 8192, "ffn down"},
      {2048, 8192, "ffn down, rows whole", false}, {128256, 2048, "output"}};
  const size_t budget = budget_mib << 20;
  const double min_s = quick ? 0.05 : 0.5;
  const int rounds = quick ? 1 : 3;
  const KernelSet& best = active_kernels();
  struct Result {
    const Shape* shape;
    const KernelSet* set;
    double seconds;
    size_t bytes;
  };
  std::vector<Result> results;
  for (const Shape& sh : shapes) {
    if (quick && sh.rows > 8192) continue;
    const MatrixCopies m(sh.rows, sh.cols, budget, sh.tiled);
    std::vector<float> x(size_t(sh.cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(int(i % 17) - 8) * 0.1f;
    const size_t first = results.size();
    for (const KernelSet* set : available_kernel_sets()) results.push_back({&sh, set, 1e30, m.bytes_each});
    for (int r = 0; r < rounds; ++r) {
      bandwidth = std::max(bandwidth, double(m.bytes_each) / copies_read_seconds(m, min_s) / 1e9);
      for (size_t i = first; i < results.size(); ++i) {
        use_kernels(*results[i].set);
        results[i].seconds = std::min(results[i].seconds, cycled_seconds(m, x, 1, nullptr, min_s));
      }
    }
  }
  use_kernels(best);
  std::printf("\nQ8_0 matrix-vector (1 token, 1 thread): rows x cols; GB/s of weights streamed from memory\n");
  std::printf("(copies of each matrix filling %zu MiB are used in turn; with less than the last-level\n"
              " cache this measures cache, not memory; best of %d round%s, each also a streaming read\n"
              " of the copies; %% of the best streaming read of the run: %.2f GB/s)\n",
              budget >> 20, rounds, rounds == 1 ? "" : "s", bandwidth);
  std::printf("(matrices are laid out as the loader lays them out: rows longer than %lld columns in\n"
              " column tiles; \"rows whole\" is the same shape without tiles, for comparison)\n",
              (long long)kMaxTileCols);
  std::printf("%-32s %-15s %10s %10s %9s\n", "shape", "kernels", "ms", "GB/s", "% of bw");
  // One shape's results are contiguous: [first, end).
  for (size_t first = 0, end = 0; first < results.size(); first = end) {
    const Shape& sh = *results[first].shape;
    char label[64];
    std::snprintf(label, sizeof label, "%lldx%lld %s", (long long)sh.rows, (long long)sh.cols, sh.what);
    double scalar_s = 0, best_s = 0;
    for (end = first; end < results.size() && results[end].shape == &sh; ++end) {
      const Result& r = results[end];
      const double gbs = double(r.bytes) / r.seconds / 1e9;
      std::printf("%-32s %-15s %10.3f %10.2f %8.0f%%\n", label, r.set->name, r.seconds * 1e3, gbs,
                  100.0 * gbs / bandwidth);
      if (r.set == &scalar_kernels()) scalar_s = r.seconds;
      if (r.set == &best) best_s = r.seconds;
    }
    if (&best != &scalar_kernels())
      std::printf("%-32s speed-up of %s over scalar: %.1fx\n", "", best.name, scalar_s / best_s);
  }

  // Prefill: a batch of tokens streams the weights once.
  const int64_t batch = 64;
  const MatrixCopies m(8192, 2048, budget);
  std::vector<float> x(size_t(2048 * batch), 0.25f);
  std::printf("\nQ8_0 matrix-matrix 8192x2048, %lld tokens, 1 thread:\n", (long long)batch);
  for (const KernelSet* set : available_kernel_sets()) {
    use_kernels(*set);
    const double s = cycled_seconds(m, x, batch, nullptr, min_s);
    std::printf("  %-15s %8.2f ms  %7.1f GOP/s (int8 multiply-adds x2)\n", set->name, s * 1e3,
                2.0 * 8192 * 2048 * double(batch) / s / 1e9);
  }
  use_kernels(best);
  if (ThreadPool::threads_supported()) {
    ThreadPool pool(2);
    const std::vector<float> x1(2048, 0.25f);
    const double s1 = cycled_seconds(m, x1, 1, nullptr, min_s), s2 = cycled_seconds(m, x1, 1, &pool, min_s);
    std::printf("  8192x2048 matrix-vector, 2 threads: %.2f GB/s (%.0f%% of the 1-thread probe), %.2fx of 1 thread\n",
                double(m.bytes_each) / s2 / 1e9, 100.0 * double(m.bytes_each) / s2 / 1e9 / bandwidth, s1 / s2);
  }
}

// ---- Threads on a whole model --------------------------------------------------

struct Speed {
  double prefill_tps = 0, decode_tps = 0;
};

// Prefill and decode speed of each session, measured in turns: every round
// times each session once, and each figure is the best of its rounds. In
// turns, so that a slow spell of a shared machine costs each side one round
// instead of making one side's figures all slow.
std::vector<Speed> model_speeds(const std::shared_ptr<Model>& model, const std::vector<int32_t>& threads,
                                int32_t prompt_len, int32_t decode_len, int rounds) {
  std::vector<std::unique_ptr<Session>> sessions;
  for (int32_t n : threads) {
    SessionParams sp;
    sp.threads = n;
    sp.n_ctx = 512;
    auto s = Session::create(model, sp);
    if (!s) return {};
    sessions.push_back(std::move(s.value()));
  }
  std::vector<int32_t> prompt;
  for (int32_t i = 0; i < prompt_len; ++i) prompt.push_back(3 + (i * 31) % 250);
  std::vector<Speed> best(sessions.size());
  for (int rep = 0; rep < rounds; ++rep) {
    for (size_t k = 0; k < sessions.size(); ++k) {
      Session& s = *sessions[k];
      s.reset();
      auto t = Clock::now();
      if (!s.eval(prompt).ok()) return {};
      const double prefill = prompt_len / seconds_since(t);
      t = Clock::now();
      for (int32_t i = 0; i < decode_len; ++i) {
        const int32_t id = 3 + i;
        if (!s.eval(std::span<const int32_t>(&id, 1)).ok()) return {};
      }
      const double decode = decode_len / seconds_since(t);
      best[k].prefill_tps = std::max(best[k].prefill_tps, prefill);
      best[k].decode_tps = std::max(best[k].decode_tps, decode);
    }
  }
  return best;
}

void bench_threads(bool quick) {
  if (!ThreadPool::threads_supported()) {
    std::printf("\nthreads: this build is single-threaded (wasm without -pthread); see build/wasm-mt\n");
    return;
  }
  RandomModelSpec spec;
  spec.n_layer = quick ? 2 : 12;
  spec.n_embd = 768;
  spec.n_head = 12;
  spec.n_head_kv = 4;
  spec.n_ff = 2048;
  spec.n_vocab = quick ? 4096 : 32000;
  spec.n_ctx = 512;
  spec.weight_type = "Q8_0";
  const std::string path = (std::filesystem::temp_directory_path() / "kvlite-bench-model.gguf").string();
  const auto t = Clock::now();
  if (Status st = write_random_model(spec, path); !st.ok()) {
    std::printf("threads: cannot write the model: %s\n", st.message().c_str());
    return;
  }
  auto model = Model::load_file(path);
  std::filesystem::remove(path);
  if (!model) {
    std::printf("threads: cannot load the model: %s\n", model.message().c_str());
    return;
  }
  std::printf("\nmodel: %d blocks, embd %d, ffn %d, vocab %d, Q8_0, %.0f MB (made in %.1f s)\n", spec.n_layer,
              spec.n_embd, spec.n_ff, spec.n_vocab, double(model.value()->info().weight_bytes) / 1e6,
              seconds_since(t));
  const int32_t prompt_len = 64, decode_len = quick ? 8 : 32;
  // The first round warms up; the machine may be shared.
  const std::vector<Speed> speeds = model_speeds(model.value(), {1, 2}, prompt_len, decode_len, quick ? 3 : 5);
  if (speeds.size() != 2) {
    std::printf("threads: a session failed\n");
    return;
  }
  const Speed& one = speeds[0];
  const Speed& two = speeds[1];
  std::printf("%-28s %12s %12s %8s\n", "", "1 thread", "2 threads", "ratio");
  std::printf("%-28s %12.1f %12.1f %7.2fx\n", "prefill tokens/s (64-token)", one.prefill_tps, two.prefill_tps,
              two.prefill_tps / one.prefill_tps);
  std::printf("%-28s %12.1f %12.1f %7.2fx\n", "decode tokens/s", one.decode_tps, two.decode_tps,
              two.decode_tps / one.decode_tps);
}

// Where this runs: native, or wasm under node or in a browser (whose V8 is
// years newer than node 20's and compiles SIMD128 differently).
std::string runtime_name() {
#if defined(__EMSCRIPTEN__)
  char* agent = emscripten_run_script_string(
      "typeof process == 'object' && process.versions && process.versions.node"
      " ? 'node ' + process.versions.node : navigator.userAgent.replace(/^.*(Chrom[a-z]*\\/[0-9.]+).*$/, '$1')");
  return std::string("wasm, ") + agent;
#else
  return "native";
#endif
}

int run(int argc, char** argv) {
  bool quick = false;
  size_t budget_mib = 0;  // 0: 384 MiB, or 64 with --quick
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--matrix-mib" && i + 1 < argc) {
      budget_mib = size_t(std::max(0, std::atoi(argv[++i])));  // 1: one copy, served from cache
    } else {
      std::fprintf(stderr, "kvlite-bench: error: unknown flag '%s' (--quick, --matrix-mib N)\n", argv[i]);
      return 1;
    }
  }
  if (budget_mib == 0) budget_mib = quick ? 64 : 384;
  std::printf("kvlite-bench (%s): kernel sets:", runtime_name().c_str());
  for (const KernelSet* set : available_kernel_sets()) std::printf(" %s", set->name);
  std::printf("; active: %s; threads %s\n", active_kernels().name,
              ThreadPool::threads_supported() ? "available" : "not in this build");
  const size_t probe_bytes = size_t(quick ? 64 : 512) << 20;
  double bw = bandwidth_gbs(probe_bytes, quick ? 0.1 : 1.0);  // raised by any faster probe of bench_matvec
  std::printf("memory bandwidth probe (streaming read of %zu MiB, 1 thread): %.2f GB/s\n", probe_bytes >> 20, bw);
  bench_matvec(bw, quick, budget_mib);
  bench_threads(quick);
  return 0;
}

}  // namespace
}  // namespace kvlite

int main(int argc, char** argv) { return kvlite::run(argc, argv); }
