// Perplexity exactly as llama.cpp's llama-perplexity computes it, so figures
// are comparable with its published numbers.
#include <chrono>
#include <cmath>
#include <string>

#include "kvlite/kvlite.h"

namespace kvlite {

namespace {

// -log softmax(logits)[target], computed stably in double.
double negative_log_likelihood(std::span<const float> logits, int32_t target) {
  float max = logits[0];
  for (float v : logits) max = v > max ? v : max;
  double sum = 0;
  for (float v : logits) sum += std::exp(double(v) - max);
  return std::log(sum) - (double(logits[size_t(target)]) - max);
}

}  // namespace

Result<PerplexityResult> perplexity(std::shared_ptr<const Model> model, std::string_view text, int32_t n_ctx,
                                    const std::function<bool(int32_t, int32_t)>& on_chunk) {
  return perplexity(std::move(model), text, n_ctx, KvConfig{}, on_chunk, {});
}

Result<PerplexityResult> perplexity(std::shared_ptr<const Model> model, std::string_view text, int32_t n_ctx,
                                    const KvConfig& kv, const std::function<bool(int32_t, int32_t)>& on_chunk,
                                    const std::function<void(std::span<const float>, int32_t)>& on_scored,
                                    KvStats* stats_out, int32_t threads) {
  if (!model) return Status::Error("no model loaded");
  if (n_ctx < 4) return Status::Error("perplexity context must be at least 4 tokens, got " + std::to_string(n_ctx));
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const std::vector<int32_t> tokens = model->tokenize(text, true, false);
  const int32_t n_chunks = int32_t(tokens.size() / size_t(n_ctx));
  if (n_chunks == 0) {
    return Status::Error("text has " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                         std::to_string(n_ctx));
  }
  SessionParams sp;
  sp.n_ctx = n_ctx;
  sp.kv = kv;
  sp.threads = threads;
  auto session = Session::create(model, sp);
  if (!session) return session.status();
  Session& s = *session.value();

  const auto start = std::chrono::steady_clock::now();
  const int32_t first = n_ctx / 2;
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  std::vector<int32_t> chunk;
  for (int32_t c = 0; c < n_chunks; ++c) {
    chunk.assign(tokens.begin() + ptrdiff_t(c) * n_ctx, tokens.begin() + ptrdiff_t(c + 1) * n_ctx);
    chunk[0] = model->bos();
    s.reset();
    // Session::eval stores and attends token by token inside each layer of a compressed cache.
    KVLITE_TRY(s.eval(chunk, true));
    for (int32_t j = first; j < n_ctx - 1; ++j) {
      if (on_scored) on_scored(s.logits(j), chunk[size_t(j) + 1]);
      const double v = negative_log_likelihood(s.logits(j), chunk[size_t(j) + 1]);
      nll += v;
      nll2 += v * v;
      ++count;
    }
    if (on_chunk && !on_chunk(c + 1, n_chunks)) return Status::Error("perplexity cancelled");
  }
  if (stats_out) *stats_out = s.kv_stats();
  PerplexityResult r;
  const double mean = nll / double(count);
  const double var = nll2 / double(count) - mean * mean;
  r.ppl = std::exp(mean);
  r.ppl_err = count > 1 ? r.ppl * std::sqrt(var / double(count - 1)) : 0.0;
  r.n_chunks = n_chunks;
  r.n_scored = int32_t(count);
  r.n_tokens = int32_t(tokens.size());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace kvlite
