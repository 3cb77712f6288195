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
  // Store matrices with rows longer than 4096 columns in column tiles (see
  // kernels/matmul.h): faster matrix-vector products. Off only to compare.
  bool tile_long_rows = true;
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

// ---- KV cache: formats, window, sinks, eviction, budgets, statistics ---------
// Everything the KV cache can be asked to do, chosen at session creation.
// The defaults keep every key and value in FP32 (bit-for-bit the plain cache);
// any other choice evaluates tokens one at a time through the compressed cache.

// Storage of keys or values outside the full-precision sinks and window.
// q4: Walsh-Hadamard rotated, blocks of min(16, head_dim) values along the
// head with a one-byte scale each, levels spaced for Gaussian values from
// blocks of 16 up (18 bytes per 32 values, as q4_0, with less error).
// q8/q3/q2: blocks of min(32, head_dim) values, one scale each (one byte for
// blocks under 16 values, rotated; else fp16). All chosen by measurement
// (docs/kv-quality.md). q4t/q4c/q4h are the measured 4-bit key alternatives
// (no rotation, per-channel scales, rotation always: now the same as q4);
// q4_0 is llama.cpp's KV layout (head_dim must divide by 32), kept as a
// baseline.
enum class KvType { F32, F16, Q8, Q4, Q3, Q2, Q4_0, Q4Token, Q4Channel, Q4Hadamard };
std::string_view kv_type_name(KvType type);                // "q4"
bool parse_kv_type(std::string_view name, KvType* type);  // false for unknown names

// H2O: lowest accumulated attention goes first (the paper's rule);
// H2OMean: lowest attention per query since the token arrived.
enum class KvEviction { None, H2O, H2OMean };
enum class KvPyramid { None, Fixed, Entropy };

struct KvConfig {
  KvType k_type = KvType::F32;
  KvType v_type = KvType::F32;
  // The newest `window` tokens keep FP32 keys and values; a token leaving the
  // window is quantized once into the slot of its format (no second copy).
  int32_t window = 128;
  // The first `sinks` tokens stay FP32 and are never evicted.
  int32_t sinks = 4;
  // H2O: per KV head, each token's attention (summed over the query heads of
  // its group) accumulates; a layer holding more than `budget` tokens drops
  // its lowest-scoring ones, never sinks or window.
  KvEviction eviction = KvEviction::None;
  int32_t budget = 0;  // tokens held per layer (with a pyramid: the mean over layers)
  // Per-layer budgets shrinking with depth (Fixed: linear, 1.67x..0.33x the
  // mean on 5 layers), or proportional to each layer's attention entropy
  // measured until the cache first fills (Entropy). Needs H2O and a budget.
  KvPyramid pyramid = KvPyramid::None;
  // Sinks + window only: older tokens are dropped, and generation goes on
  // past the context length (positions keep increasing).
  bool sliding = false;
  // Collect per-layer attention entropy and recent share (costs a log per weight).
  bool attention_stats = false;
};

struct KvLayerStats {
  int32_t tokens = 0;            // tokens held (per KV head)
  int32_t compressed_tokens = 0; // of which outside sinks and window
  int32_t budget = 0;            // tokens this layer may hold (0: no limit)
  int64_t evicted = 0;           // tokens dropped, summed over KV heads
  uint64_t bytes = 0;            // bytes allocated for this layer, every scale and index included
  uint64_t used_bytes = 0;       // of which held by the tokens present
  uint64_t compressed_bytes = 0; // of which held by the compressed tokens (their FP32 size: compressed_f32_bytes)
  uint64_t compressed_f32_bytes = 0;
  uint64_t f32_bytes = 0, f16_bytes = 0;  // every token seen so far, stored plainly in FP32 / FP16
  double entropy_bits = 0;       // mean attention entropy per query and head (attention_stats)
  double recent_share = 0;       // mean share of attention on the newest 128 positions
};

struct KvStats {
  std::string k_type, v_type;
  int32_t window = 0, sinks = 0;
  int64_t tokens_seen = 0;
  std::vector<KvLayerStats> layers;
  uint64_t bytes = 0, used_bytes = 0, f32_bytes = 0, f16_bytes = 0;  // sums over layers
};

// ---- Session: one conversation's state (KV cache, position, logits) ----------

struct SessionParams {
  int32_t n_ctx = 0;  // context length; 0: the model's training context, capped at 4096
  KvConfig kv;        // KV cache formats and policies (see above)
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
  // Memory and attention statistics of the KV cache, per layer.
  KvStats kv_stats() const;

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
// The same through a KV cache configured by `kv`; a compressed or evicting
// cache runs token by token, as generation does. on_scored receives the
// logits of every scored position and the token that follows it.
// stats_out, when given, gets the cache's statistics at the end of the last chunk.
// threads: as SessionParams::threads (the result does not depend on it).
Result<PerplexityResult> perplexity(std::shared_ptr<const Model> model, std::string_view text, int32_t n_ctx,
                                    const KvConfig& kv,
                                    const std::function<bool(int32_t done, int32_t total)>& on_chunk,
                                    const std::function<void(std::span<const float> logits, int32_t next)>& on_scored,
                                    KvStats* stats_out = nullptr, int32_t threads = 1);

// ---- Random-weight models of any shape, for tests and benchmarks ---------------

// Speed and memory do not depend on the weights' values, so benchmarks run on
// generated models of real shapes; tests use tiny ones. The vocabulary is a
// small SentencePiece-style one (control tokens, 256 byte tokens, a few
// letters and merges) padded with unused tokens up to n_vocab, unless a real
// byte-level BPE vocabulary is given (bpe_tokens).
struct RandomModelSpec {
  std::string architecture = "llama";  // any kvlite supports; its extra tensors (biases, norms, fused matrices) are written
  int32_t n_layer = 2, n_embd = 64, n_head = 4, n_head_kv = 2, n_ff = 160;
  int32_t n_vocab = 320;   // at least 300; ignored when bpe_tokens is given (its size is the vocabulary)
  int32_t n_ctx = 512;     // {arch}.context_length
  float rope_theta = 10000.0f;
  int32_t sliding_window = 0;  // {arch}.attention.sliding_window (0: not written); local layers as the architecture says
  bool tied_embeddings = false;
  // Matrices: any type name with a quantizer ("Q8_0", "F16", ...), or
  // "Q4_K_M", llama.cpp's mix of that name: Q4_K everywhere except Q6_K for
  // the output matrix (token_embd when tied) and for attn_v and ffn_down in
  // the first and last eighth of the blocks and every third block between.
  std::string weight_type = "F32";
  uint64_t seed = 1;
  // A byte-level BPE vocabulary (tokenizer.ggml.model "gpt2", pre-tokenizer
  // bpe_pre) to write instead of the SentencePiece one: tokens spelled in
  // GPT-2's byte-to-unicode alphabet, merges as "left right" in rank order.
  // Tokens spelled <|...|> are written as control tokens.
  std::vector<std::string> bpe_tokens, bpe_merges;
  std::string bpe_pre = "llama-bpe";
  int32_t bpe_bos = -1, bpe_eos = -1, bpe_eot = -1;  // -1: none
};

// Writes the model to path, streaming tensor by tensor (never whole in memory).
Status write_random_model(const RandomModelSpec& spec, const std::string& path);

// The compute kernels in use: "scalar", "sse2", "avx2", "simd128" or
// "simd128-relaxed" (the fastest this machine and build run).
const char* active_kernel_set_name();

// ---- Token-by-token generation, for front ends that yield between tokens -----
// Session::generate runs its whole loop in one call; a browser worker must
// return to its event loop between tokens to see a Stop message. A TokenStream
// samples exactly as generate() does (same sampler, same order of draws), one
// token per next(). Each emitted token is evaluated before next() returns, so
// the session is complete whenever the caller stops asking.

struct TokenStep {
  std::string piece;  // whole UTF-8 text (may be empty while a character is incomplete)
  int32_t id = -1;    // the token; -1 for the final flush of held-back bytes
  bool done = false;  // nothing more: end-of-generation token, full context, or max_tokens reached
};

class TokenStream {
 public:
  // Tokenizes the prompt (BOS only at the start of a conversation) and
  // evaluates it. The session must outlive the stream.
  static Result<std::unique_ptr<TokenStream>> start(Session& session, std::string_view prompt, int32_t max_tokens,
                                                    const SamplerParams& sampling);
  ~TokenStream();
  TokenStream(const TokenStream&) = delete;
  TokenStream& operator=(const TokenStream&) = delete;

  // The next token; after done, further calls return done with no piece.
  Result<TokenStep> next();
  // Counts and timings so far (prompt evaluation, then the tokens emitted).
  const GenerateStats& stats() const;

 private:
  struct Impl;
  explicit TokenStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvlite
