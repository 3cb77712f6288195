// TokenStream: Session::generate's loop cut at each token, so the caller
// decides when the next one is computed (a worker yields to its event loop).
// It keeps generate()'s order of operations so both give the same tokens.
#include <chrono>
#include <string>

#include "kvlite/kvlite.h"
#include "session/sampler.h"
#include "session/utf8_stream.h"

namespace kvlite {

struct TokenStream::Impl {
  Session* session = nullptr;
  Sampler sampler;
  Utf8Stream text;
  GenerateStats stats;
  int32_t max_tokens = 0;
  bool finished = false;
  std::chrono::steady_clock::time_point started;

  explicit Impl(const SamplerParams& params) : sampler(params) {}

  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); }
  TokenStep finish(TokenStep step) {
    finished = true;
    step.done = true;
    step.piece += text.flush();
    stats.generate_seconds = seconds();
    return step;
  }
};

TokenStream::TokenStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TokenStream::~TokenStream() = default;

Result<std::unique_ptr<TokenStream>> TokenStream::start(Session& session, std::string_view prompt,
                                                        int32_t max_tokens, const SamplerParams& sampling) {
  if (prompt.empty()) return Status::Error("the prompt is empty: give at least one character of text");
  if (max_tokens < 0) return Status::Error("max_tokens must not be negative");
  const Model& model = session.model();
  std::vector<int32_t> ids = model.tokenize(prompt, session.n_past() == 0, true);
  if (ids.empty()) return Status::Error("the prompt gave no tokens");

  auto impl = std::make_unique<Impl>(sampling);
  impl->session = &session;
  impl->max_tokens = max_tokens;
  impl->stats.prompt_tokens = int32_t(ids.size());
  for (int32_t id : ids) impl->sampler.accept(id);
  impl->started = std::chrono::steady_clock::now();
  KVLITE_TRY(session.eval(ids, false));
  impl->stats.prompt_seconds = impl->seconds();
  impl->started = std::chrono::steady_clock::now();
  return std::unique_ptr<TokenStream>(new TokenStream(std::move(impl)));
}

Result<TokenStep> TokenStream::next() {
  Impl& s = *impl_;
  if (s.finished) return TokenStep{"", -1, true};
  if (s.stats.generated_tokens >= s.max_tokens) return s.finish({});
  const Model& model = s.session->model();
  const std::span<const float> lg = s.session->logits();
  if (lg.empty()) return Status::Error("no logits to sample from");
  const int32_t id = s.sampler.sample(lg.data(), int32_t(lg.size()));
  s.sampler.accept(id);
  if (model.is_end_of_generation(id)) {
    s.stats.stopped_at_eos = true;
    return s.finish({});
  }
  ++s.stats.generated_tokens;
  TokenStep step{s.text.push(model.token_piece(id)), id, false};
  if (s.session->n_past() + 1 > s.session->n_ctx()) {
    s.stats.stopped_at_context = true;
    return s.finish(step);
  }
  KVLITE_TRY(s.session->eval(std::span<const int32_t>(&id, 1), false));
  if (s.stats.generated_tokens == s.max_tokens) return s.finish(step);
  return step;
}

const GenerateStats& TokenStream::stats() const { return impl_->stats; }

}  // namespace kvlite
