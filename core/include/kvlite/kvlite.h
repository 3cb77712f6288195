// kvlite's public API: the one header the CLI, the wasm bindings and the tests
// use. Opaque handles with explicit lifetimes, parameter structs with
// documented defaults, errors as values (never exceptions, never aborts).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kvlite {

class ByteSource;

// ---- Sampling ---------------------------------------------------------------

struct SamplerParams {
  float temperature = 0.8f;     // 0 or less: greedy (arg-max, lowest id on ties)
  int32_t top_k = 40;           // 0 or less: no top-k
  float top_p = 0.95f;          // 1: no top-p
  float min_p = 0.05f;          // 0: no min-p
  float repeat_penalty = 1.0f;  // 1: none (positive logits divided, negative multiplied)
  int32_t repeat_last_n = 64;   // how many recent tokens the penalty looks at
  uint64_t seed = 0x5eed;
};

// ---- Model ------------------------------------------------------------------

struct ModelInfo {
  std::string architecture;  // general.architecture
  std::string name;          // general.name, may be empty
  int32_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, head_dim = 0, n_ff = 0;
  int32_t n_vocab = 0, n_ctx_train = 0;
  uint64_t weight_bytes = 0;  // bytes of tensor data held in memory
  uint64_t file_bytes = 0;
};

struct TensorSummary {
  std::string name;
  std::string type;           // "Q8_0"
  std::vector<int64_t> dims;  // dims[0] is the row length
  uint64_t offset = 0, bytes = 0;
};

struct LoadParams {
  // Called as bytes of tensor data arrive; return false to cancel the load.
  std::function<bool(uint64_t done, uint64_t total)> on_progress;
  // Refuse models whose tensor data exceeds this many bytes (0: no limit),
  // before reading any of it.
  uint64_t max_weight_bytes = 0;
};

class Model {
 public:
  static Result<std::shared_ptr<Model>> load(ByteSource& source, const LoadParams& params = {});
  static Result<std::shared_ptr<Model>> load_file(const std::string& path, const LoadParams& params = {});
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelInfo& info() const;
  // Metadata as (key, rendered value) in file order, and the tensor table.
  std::vector<std::pair<std::string, std::string>> metadata() const;
  std::vector<TensorSummary> tensors() const;

  // add_special: BOS/EOS as the vocabulary says; parse_special: "<s>" etc. in
  // the text become their special tokens.
  std::vector<int32_t> tokenize(std::string_view text, bool add_special = true, bool parse_special = true) const;
  std::string token_piece(int32_t id) const;
  int32_t bos() const;
  int32_t eos() const;
  bool is_end_of_generation(int32_t id) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Session: one conversation's state (KV cache, position, logits) ----------

struct SessionParams {
  int32_t n_ctx = 0;  // context length; 0: the model's training context, capped at 4096
  int32_t threads = 1;  // compute threads (matrix rows split among them); results identical for any count
};

struct GenerateStats {
  int32_t prompt_tokens = 0, generated_tokens = 0;
  double prompt_seconds = 0, generate_seconds = 0;
  double prompt_tokens_per_second() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  double generate_tokens_per_second() const { return generate_seconds > 0 ? generated_tokens / generate_seconds : 0; }
  bool stopped_at_eos = false;      // an end-of-generation token came
  bool stopped_at_context = false;  // the context filled up
  bool cancelled = false;           // on_piece returned false
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model, const SessionParams& params = {});
  ~Session();

  // Runs tokens through the model at the next positions. Logits are kept for
  // the last token, or for every token when all_logits.
  Status eval(std::span<const int32_t> tokens, bool all_logits = false);
  // Logits of the i-th token of the last eval (with all_logits), or of its last token.
  std::span<const float> logits(int32_t i = -1) const;
  int32_t n_past() const;
  int32_t n_ctx() const;
  void reset();

  // Tokenizes the prompt (BOS as the model says), evaluates it, then samples up
  // to max_tokens, calling on_piece with each token's text; on_piece returns
  // false to stop. Stops at end-of-generation tokens. Continues the session
  // (call reset() first for a fresh conversation).
  Result<GenerateStats> generate(std::string_view prompt, int32_t max_tokens, const SamplerParams& sampling,
                                 const std::function<bool(std::string_view piece, int32_t id)>& on_piece);

  const Model& model() const;

 private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Perplexity, computed exactly as llama.cpp's llama-perplexity ------------

struct PerplexityResult {
  double ppl = 0, ppl_err = 0;  // exp(mean NLL), and its standard error
  int32_t n_chunks = 0, n_scored = 0, n_tokens = 0;
  double seconds = 0;
};

// The text's single trailing newline is dropped, it is tokenized with BOS and
// without special-token parsing, cut into floor(tokens / n_ctx) chunks whose
// first token is replaced by BOS, and positions n_ctx/2 .. n_ctx-2 are scored.
// on_chunk(done, total) may return false to cancel.
Result<PerplexityResult> perplexity(std::shared_ptr<const Model> model, std::string_view text, int32_t n_ctx,
                                    const std::function<bool(int32_t done, int32_t total)>& on_chunk = {});

// ---- Random-weight models of any shape, for tests and benchmarks ---------------

// Speed and memory do not depend on the weights' values, so benchmarks run on
// generated models of real shapes; tests use tiny ones. The vocabulary is a
// small SentencePiece-style one (control tokens, 256 byte tokens, a few
// letters and merges) padded with unused tokens up to n_vocab.
struct RandomModelSpec {
  int32_t n_layer = 2, n_embd = 64, n_head = 4, n_head_kv = 2, n_ff = 160;
  int32_t n_vocab = 320;   // at least 300
  int32_t n_ctx = 512;     // {arch}.context_length
  float rope_theta = 10000.0f;
  bool tied_embeddings = false;
  std::string weight_type = "F32";  // matrices: any type name with a quantizer ("Q8_0", "F16", ...)
  uint64_t seed = 1;
};

// Writes the model to path, streaming tensor by tensor (never whole in memory).
Status write_random_model(const RandomModelSpec& spec, const std::string& path);

}  // namespace kvlite
