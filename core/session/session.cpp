#include <algorithm>
#include <chrono>
#include <string>

#include "kv/kv_cache.h"
#include "model/forward.h"
#include "session/sampler.h"
#include "session/utf8_stream.h"

namespace kvlite {

namespace {

constexpr int32_t kMaxBatch = 64;     // tokens per forward call during prefill
constexpr int32_t kDefaultCtxCap = 4096;

KvShape kv_shape(const Model& model, int32_t n_ctx) {
  const Hparams& hp = model.impl().hp;
  return KvShape{hp.n_layer, n_ctx, hp.n_head_kv, hp.head_dim, hp.rope_style == RopeStyle::NeoX};
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

struct Session::Impl {
  std::shared_ptr<const Model> model;
  int32_t n_ctx = 0;
  KvCache kv;
  ForwardScratch scratch;
  std::vector<float> logits, batch_logits;
  int32_t n_logit_rows = 0;
  int32_t n_past = 0;
  // The last sampled token of a generate() call: not yet in the cache, and
  // evaluated first by the next call so a conversation continues seamlessly.
  std::vector<int32_t> pending;

  Impl(std::shared_ptr<const Model> m, int32_t ctx, const KvConfig& kv_config)
      : model(std::move(m)), n_ctx(ctx), kv(kv_shape(*model, ctx), kv_config) {}

  Status eval(std::span<const int32_t> tokens, bool all_logits);
};

Status Session::Impl::eval(std::span<const int32_t> tokens, bool all_logits) {
  const Model::Impl& m = model->impl();
  if (tokens.empty()) return Status::Error("nothing to evaluate: the token list is empty");
  for (int32_t id : tokens) {
    if (id < 0 || id >= m.hp.n_vocab) {
      return Status::Error("token id " + std::to_string(id) + " is outside the vocabulary (0.." +
                           std::to_string(m.hp.n_vocab - 1) + ")");
    }
  }
  if (!kv.bounded() && n_past + int64_t(tokens.size()) > n_ctx) {
    return Status::Error("context is full: " + std::to_string(n_past) + " + " + std::to_string(tokens.size()) +
                         " tokens exceed the context length " + std::to_string(n_ctx));
  }
  const size_t n_vocab = size_t(m.hp.n_vocab);
  logits.clear();
  for (size_t start = 0; start < tokens.size();) {
    // Asked per batch: the entropy pyramid batches once its budgets are set.
    const size_t batch = kv.batchable() ? size_t(kMaxBatch) : 1;
    const size_t count = std::min(tokens.size() - start, batch);
    const bool last_batch = start + count == tokens.size();
    forward(m, kv, tokens.subspan(start, count), n_past, all_logits, scratch, batch_logits);
    if (all_logits || last_batch) logits.insert(logits.end(), batch_logits.begin(), batch_logits.end());
    n_past += int32_t(count);
    start += count;
  }
  n_logit_rows = int32_t(logits.size() / n_vocab);
  return Status::Ok();
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model, const SessionParams& params) {
  if (!model) return Status::Error("no model: load one before creating a session");
  int32_t n_ctx = params.n_ctx;
  if (n_ctx < 0) return Status::Error("context length must be positive, got " + std::to_string(n_ctx));
  if (n_ctx == 0) n_ctx = std::min(model->info().n_ctx_train, kDefaultCtxCap);
  const Status kv_ok = KvCache::validate(kv_shape(*model, n_ctx), params.kv);
  if (!kv_ok.ok()) return kv_ok;
  if (params.threads < 1) return Status::Error("threads must be at least 1, got " + std::to_string(params.threads));
  auto impl = std::make_unique<Impl>(std::move(model), n_ctx, params.kv);
  impl->scratch.set_threads(params.threads);
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Status Session::eval(std::span<const int32_t> tokens, bool all_logits) {
  if (impl_->pending.empty()) return impl_->eval(tokens, all_logits);
  std::vector<int32_t> joined = impl_->pending;
  joined.insert(joined.end(), tokens.begin(), tokens.end());
  impl_->pending.clear();
  if (!all_logits) return impl_->eval(joined, false);
  KVLITE_TRY(impl_->eval(joined, true));
  // Drop the pending token's row so rows line up with the caller's tokens.
  const size_t n_vocab = size_t(impl_->model->info().n_vocab);
  impl_->logits.erase(impl_->logits.begin(), impl_->logits.begin() + ptrdiff_t(n_vocab));
  impl_->n_logit_rows -= 1;
  return Status::Ok();
}

std::span<const float> Session::logits(int32_t i) const {
  const size_t n_vocab = size_t(impl_->model->info().n_vocab);
  if (impl_->n_logit_rows == 0) return {};
  if (i < 0 || i >= impl_->n_logit_rows) i = impl_->n_logit_rows - 1;
  return std::span<const float>(impl_->logits.data() + size_t(i) * n_vocab, n_vocab);
}

int32_t Session::n_past() const { return impl_->n_past; }
int32_t Session::n_ctx() const { return impl_->n_ctx; }
const Model& Session::model() const { return *impl_->model; }
KvStats Session::kv_stats() const { return impl_->kv.stats(); }

void Session::reset() {
  impl_->n_past = 0;
  impl_->n_logit_rows = 0;
  impl_->pending.clear();
  impl_->kv.clear();
}

Result<GenerateStats> Session::generate(std::string_view prompt, int32_t max_tokens, const SamplerParams& sampling,
                                        const std::function<bool(std::string_view, int32_t)>& on_piece) {
  if (prompt.empty()) return Status::Error("the prompt is empty: give at least one character of text");
  if (max_tokens < 0) return Status::Error("max_tokens must not be negative");
  const Model& model = *impl_->model;
  // BOS only at the start of a conversation.
  std::vector<int32_t> ids = model.tokenize(prompt, impl_->n_past == 0 && impl_->pending.empty(), true);
  if (ids.empty()) return Status::Error("the prompt gave no tokens");

  GenerateStats stats;
  stats.prompt_tokens = int32_t(ids.size());
  Sampler sampler(sampling);
  for (int32_t id : ids) sampler.accept(id);

  auto start = std::chrono::steady_clock::now();
  KVLITE_TRY(eval(ids, false));
  stats.prompt_seconds = seconds_since(start);

  Utf8Stream text;
  start = std::chrono::steady_clock::now();
  for (int32_t i = 0; i < max_tokens; ++i) {
    const std::span<const float> lg = logits();
    const int32_t id = sampler.sample(lg.data(), int32_t(lg.size()));
    sampler.accept(id);
    if (model.is_end_of_generation(id)) {
      stats.stopped_at_eos = true;
      break;
    }
    ++stats.generated_tokens;
    const std::string ready = text.push(model.token_piece(id));
    if (on_piece && !on_piece(ready, id)) {
      stats.cancelled = true;
      impl_->pending.push_back(id);
      break;
    }
    if (i + 1 == max_tokens) {
      impl_->pending.push_back(id);
      break;
    }
    if (!impl_->kv.bounded() && impl_->n_past + 1 > impl_->n_ctx) {
      stats.stopped_at_context = true;
      break;
    }
    KVLITE_TRY(eval(std::span<const int32_t>(&id, 1), false));
  }
  stats.generate_seconds = seconds_since(start);
  const std::string rest = text.flush();
  if (!rest.empty() && on_piece) on_piece(rest, -1);
  return stats;
}

}  // namespace kvlite
