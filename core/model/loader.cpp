// Model::load: parse the GGUF header, check that every tensor the architecture
// needs is there with the right shape, refuse what will not fit, then read each
// tensor's bytes straight into its own aligned allocation.
#include <cstdlib>
#include <new>
#include <string>

#include "format/byte_source.h"
#include "model/model.h"

namespace kvlite {

void AlignedBytes::Free::operator()(uint8_t* p) const { ::operator delete[](p, std::align_val_t(64)); }

AlignedBytes AlignedBytes::allocate(size_t n) {
  AlignedBytes b;
  b.data.reset(static_cast<uint8_t*>(::operator new[](n == 0 ? 1 : n, std::align_val_t(64), std::nothrow)));
  b.size = b.data ? n : 0;
  return b;
}

namespace {

std::string dims_text(const int64_t* ne, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// A tensor the architecture needs, checked for shape before any byte is read.
struct Want {
  const TensorInfo* info;
  WeightMatrix* matrix;       // set for matrices
  std::vector<float>* vec;    // set for vectors (norms), converted to F32
};

class Planner {
 public:
  Planner(const GgufFile& gguf, bool tile) : gguf_(gguf), tile_(tile) {}

  Status matrix(const std::string& name, int64_t cols, int64_t rows, WeightMatrix& out) {
    auto info = find(name, {cols, rows}, 2);
    if (!info) return info.status();
    out = weight_layout(*info.value()->traits, rows, cols, tile_);
    wants_.push_back({info.value(), &out, nullptr});
    return Status::Ok();
  }

  Status vector(const std::string& name, int64_t n, std::vector<float>& out) {
    auto info = find(name, {n, 1}, 1);
    if (!info) return info.status();
    wants_.push_back({info.value(), nullptr, &out});
    return Status::Ok();
  }

  bool has(const std::string& name) const { return gguf_.find_tensor(name) != nullptr; }
  const std::vector<Want>& wants() const { return wants_; }

 private:
  Result<const TensorInfo*> find(const std::string& name, std::initializer_list<int64_t> dims, uint32_t n_dims) {
    const TensorInfo* t = gguf_.find_tensor(name);
    if (!t) return Status::Error("model is missing tensor '" + name + "'");
    const int64_t* want = dims.begin();
    bool same = t->ne[0] == want[0] && t->ne[1] == want[1] && t->ne[2] == 1 && t->ne[3] == 1;
    if (!same) {
      return Status::Error("tensor '" + name + "' has shape " + dims_text(t->ne, int(t->n_dims)) + ", expected " +
                           dims_text(want, int(n_dims)));
    }
    return t;
  }

  const GgufFile& gguf_;
  const bool tile_;
  std::vector<Want> wants_;
};

// Every tensor the architecture's row asks for, with the shapes the
// hyperparameters imply.
Status plan_weights(const Hparams& hp, Planner& plan, ModelWeights& w) {
  const Architecture& arch = *hp.family;
  KVLITE_TRY(plan.matrix("token_embd.weight", hp.n_embd, hp.n_vocab, w.token_embd));
  KVLITE_TRY(plan.vector("output_norm.weight", hp.n_embd, w.output_norm));
  if (plan.has("output.weight")) {
    KVLITE_TRY(plan.matrix("output.weight", hp.n_embd, hp.n_vocab, w.output));
  }
  if (plan.has("rope_freqs.weight")) KVLITE_TRY(plan.vector("rope_freqs.weight", hp.head_dim / 2, w.rope_freqs));
  if (plan.has("rope_factors_short.weight") || plan.has("rope_factors_long.weight")) {  // LongRoPE: both or neither
    KVLITE_TRY(plan.vector("rope_factors_short.weight", hp.head_dim / 2, w.rope_short));
    KVLITE_TRY(plan.vector("rope_factors_long.weight", hp.head_dim / 2, w.rope_long));
  }
  w.layers.resize(size_t(hp.n_layer));
  for (int32_t i = 0; i < hp.n_layer; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w.layers[size_t(i)];
    KVLITE_TRY(plan.vector(b + "attn_norm.weight", hp.n_embd, l.attn_norm));
    if (arch.fused) {
      KVLITE_TRY(plan.matrix(b + "attn_qkv.weight", hp.n_embd, hp.q_dim() + 2 * hp.kv_dim(), l.wqkv));
    } else {
      KVLITE_TRY(plan.matrix(b + "attn_q.weight", hp.n_embd, hp.q_dim(), l.wq));
      KVLITE_TRY(plan.matrix(b + "attn_k.weight", hp.n_embd, hp.kv_dim(), l.wk));
      KVLITE_TRY(plan.matrix(b + "attn_v.weight", hp.n_embd, hp.kv_dim(), l.wv));
    }
    if (arch.qkv_bias) {
      KVLITE_TRY(plan.vector(b + "attn_q.bias", hp.q_dim(), l.bq));
      KVLITE_TRY(plan.vector(b + "attn_k.bias", hp.kv_dim(), l.bk));
      KVLITE_TRY(plan.vector(b + "attn_v.bias", hp.kv_dim(), l.bv));
    }
    if (arch.qk_norm) {
      KVLITE_TRY(plan.vector(b + "attn_q_norm.weight", hp.head_dim, l.q_norm));
      KVLITE_TRY(plan.vector(b + "attn_k_norm.weight", hp.head_dim, l.k_norm));
    }
    KVLITE_TRY(plan.matrix(b + "attn_output.weight", hp.q_dim(), hp.n_embd, l.wo));
    if (arch.post_norms) KVLITE_TRY(plan.vector(b + "post_attention_norm.weight", hp.n_embd, l.post_attn_norm));
    KVLITE_TRY(plan.vector(b + "ffn_norm.weight", hp.n_embd, l.ffn_norm));
    if (arch.fused) {
      KVLITE_TRY(plan.matrix(b + "ffn_up.weight", hp.n_embd, 2 * int64_t(hp.n_ff), l.ffn_gate_up));
    } else {
      KVLITE_TRY(plan.matrix(b + "ffn_gate.weight", hp.n_embd, hp.n_ff, l.ffn_gate));
      KVLITE_TRY(plan.matrix(b + "ffn_up.weight", hp.n_embd, hp.n_ff, l.ffn_up));
    }
    KVLITE_TRY(plan.matrix(b + "ffn_down.weight", hp.n_ff, hp.n_embd, l.ffn_down));
    if (arch.post_norms) KVLITE_TRY(plan.vector(b + "post_ffw_norm.weight", hp.n_embd, l.post_ffn_norm));
  }
  return Status::Ok();
}

// Fused matrices become the separate ones the forward pass reads: their rows
// are stacked [q | k | v] and [gate | up], so each part is a row range.
void split_fused(const Hparams& hp, ModelWeights& w) {
  for (LayerWeights& l : w.layers) {
    l.wq = l.wqkv.row_range(0, hp.q_dim());
    l.wk = l.wqkv.row_range(hp.q_dim(), hp.kv_dim());
    l.wv = l.wqkv.row_range(hp.q_dim() + hp.kv_dim(), hp.kv_dim());
    l.ffn_gate = l.ffn_gate_up.row_range(0, hp.n_ff);
    l.ffn_up = l.ffn_gate_up.row_range(hp.n_ff, hp.n_ff);
  }
}

Status check_vector_type(const TensorInfo& t) {
  if (!t.traits->to_float) return Status::Error("tensor '" + t.name + "' has type " + t.traits->name + " which cannot be read as floats");
  return Status::Ok();
}

Status read_tensors(ByteSource& src, const std::vector<Want>& wants, const LoadParams& params,
                    std::vector<AlignedBytes>& storage) {
  uint64_t total = 0;
  for (const Want& want : wants) total += want.info->n_bytes;
  uint64_t done = 0;
  for (const Want& want : wants) {
    const TensorInfo& t = *want.info;
    AlignedBytes bytes = AlignedBytes::allocate(size_t(t.n_bytes));
    if (!bytes.data) {
      return Status::Error("out of memory: could not allocate " + std::to_string(t.n_bytes) + " bytes for tensor '" +
                           t.name + "'");
    }
    Status st = src.read(t.offset, bytes.data.get(), size_t(t.n_bytes));
    if (!st) return Status::Error("reading tensor '" + t.name + "': " + st.message());
    if (want.matrix) tile_in_place(*want.matrix, bytes.data.get());
    if (want.matrix) {
      want.matrix->data = bytes.data.get();
      storage.push_back(std::move(bytes));
    } else {
      KVLITE_TRY(check_vector_type(t));
      want.vec->resize(size_t(t.n_elements()));
      t.traits->to_float(bytes.data.get(), want.vec->data(), t.n_elements());
    }
    done += t.n_bytes;
    if (params.on_progress && !params.on_progress(done, total)) return Status::Error("model load cancelled");
  }
  return Status::Ok();
}

ModelInfo make_info(const GgufFile& gguf, const Hparams& hp, uint64_t weight_bytes, uint64_t file_bytes) {
  ModelInfo info;
  info.architecture = hp.arch;
  auto name = gguf.get_string_or("general.name", "");
  info.name = name ? name.value() : "";
  info.n_layer = hp.n_layer;
  info.n_embd = hp.n_embd;
  info.n_head = hp.n_head;
  info.n_head_kv = hp.n_head_kv;
  info.head_dim = hp.head_dim;
  info.n_ff = hp.n_ff;
  info.n_vocab = hp.n_vocab;
  info.n_ctx_train = hp.n_ctx_train;
  info.weight_bytes = weight_bytes;
  info.file_bytes = file_bytes;
  return info;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

Result<std::shared_ptr<Model>> Model::load(ByteSource& source, const LoadParams& params) {
  auto impl = std::make_unique<Impl>();
  auto gguf = parse_gguf(source);
  if (!gguf) return gguf.status();  // the parser already names the source
  impl->gguf = std::move(gguf.value());
  auto hp = read_hparams(impl->gguf);
  if (!hp) return Status::Error(source.describe() + ": " + hp.message());
  impl->hp = hp.value();

  auto vocab = take_vocab(impl->gguf);
  if (!vocab) return Status::Error(source.describe() + ": " + vocab.message());
  auto tokenizer = make_tokenizer(std::move(vocab.value()));
  if (!tokenizer) return Status::Error(source.describe() + ": " + tokenizer.message());
  impl->tokenizer = std::move(tokenizer.value());
  impl->hp.n_vocab = impl->tokenizer->n_vocab();
  // The tokenizer holds the vocabulary now (its strings were moved out of the
  // metadata, so they never existed twice: in wasm, memory once touched stays
  // taken): keep only the head of every other long metadata array too, as
  // much as metadata() shows.
  for (auto& [key, value] : impl->gguf.metadata) {
    if (auto* a = std::get_if<std::shared_ptr<GgufArray>>(&value.v); a && *a) (*a)->keep_first(kMetadataItemsShown);
  }

  Planner plan(impl->gguf, params.tile_long_rows);
  Status planned = plan_weights(impl->hp, plan, impl->weights);
  if (!planned) return Status::Error(source.describe() + ": " + planned.message());

  uint64_t weight_bytes = 0;
  for (const Want& want : plan.wants()) weight_bytes += want.info->n_bytes;
  if (params.max_weight_bytes && weight_bytes > params.max_weight_bytes) {
    return Status::Error(source.describe() + ": model needs " + std::to_string(weight_bytes) +
                         " bytes for its weights, more than the " + std::to_string(params.max_weight_bytes) +
                         " bytes allowed");
  }
  Status read = read_tensors(source, plan.wants(), params, impl->storage);
  if (!read) return Status::Error(source.describe() + ": " + read.message());
  // Tied output: the planner could only point at the embedding once its bytes were read.
  if (!plan.has("output.weight")) impl->weights.output = impl->weights.token_embd;
  if (impl->hp.family->fused) split_fused(impl->hp, impl->weights);
  // The file's own RoPE divisors win over ones derived from metadata, as in llama.cpp.
  if (!impl->weights.rope_short.empty()) {
    impl->hp.rope_factors = impl->weights.rope_short;
    impl->hp.rope_factors_long = impl->weights.rope_long;
  }
  if (!impl->weights.rope_freqs.empty()) impl->hp.rope_factors = impl->weights.rope_freqs;
  impl->info = make_info(impl->gguf, impl->hp, weight_bytes, source.size());
  return std::shared_ptr<Model>(new Model(std::move(impl)));
}

Result<std::shared_ptr<Model>> Model::load_file(const std::string& path, const LoadParams& params) {
  auto src = open_file_source(path);
  if (!src) return src.status();
  return load(*src.value(), params);
}

const ModelInfo& Model::info() const { return impl_->info; }

std::vector<std::pair<std::string, std::string>> Model::metadata() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : impl_->gguf.metadata) out.emplace_back(key, format_value(value));
  return out;
}

std::vector<TensorSummary> Model::tensors() const {
  std::vector<TensorSummary> out;
  for (const TensorInfo& t : impl_->gguf.tensors) {
    TensorSummary s{t.name, t.traits->name, {}, t.offset, t.n_bytes};
    for (uint32_t i = 0; i < t.n_dims; ++i) s.dims.push_back(t.ne[i]);
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<int32_t> Model::tokenize(std::string_view text, bool add_special, bool parse_special) const {
  return impl_->tokenizer->encode(text, add_special, parse_special);
}

std::string Model::token_piece(int32_t id) const { return impl_->tokenizer->piece(id); }
int32_t Model::bos() const { return impl_->tokenizer->vocab().bos_id; }
int32_t Model::eos() const { return impl_->tokenizer->vocab().eos_id; }
bool Model::is_end_of_generation(int32_t id) const { return impl_->tokenizer->is_end_of_generation(id); }

}  // namespace kvlite
