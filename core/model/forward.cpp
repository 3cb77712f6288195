// The forward pass of every supported architecture, top to bottom in the
// order of the llama paper: embed, then per block RMSNorm -> q/k/v -> RoPE ->
// grouped-query attention -> output projection -> residual, RMSNorm -> gated
// FFN -> residual; final norm and the output matrix. What other families add
// is a flag of their Architecture row (architecture.h), named where it acts:
//   qwen2   biases on q, k, v
//   qwen3   RMSNorm over each q and k head before RoPE
//   phi3    fused q/k/v and gate/up matrices (the loader splits them into row ranges)
//   gemma2  embeddings x sqrt(n_embd), norms after attention and FFN, GELU gate,
//           soft-capped attention scores and logits, sliding-window layers
//   gemma3  gemma2's blocks with q/k norms; local layers with their own RoPE base
#include <cmath>

#include "model/forward.h"

namespace kvlite {

void ForwardScratch::reserve(const Hparams& hp, int32_t n, int32_t n_ctx) {
  const size_t t = size_t(n);
  x.resize(t * size_t(hp.n_embd));
  xb.resize(t * size_t(hp.n_embd));
  q.resize(t * size_t(hp.q_dim()));
  k.resize(t * size_t(hp.kv_dim()));
  v.resize(t * size_t(hp.kv_dim()));
  att.resize(t * size_t(hp.q_dim()));
  hb.resize(t * size_t(hp.n_ff));
  hb2.resize(t * size_t(hp.n_ff));
  scores.resize(size_t(n_ctx) * size_t(hp.n_head));
}

void ForwardScratch::set_threads(int32_t n_threads) {
  if (n_threads > 1) pool = std::make_unique<ThreadPool>(n_threads);
  else pool.reset();
}

namespace {

// RMSNorm of n rows of `width` floats each, in place, with one weight vector.
void rmsnorm_rows(float* x, int64_t n, int64_t width, const std::vector<float>& weight, float eps) {
  for (int64_t r = 0; r < n; ++r) rmsnorm(x + r * width, x + r * width, weight.data(), width, eps);
}

void add_bias(float* x, int32_t n, const std::vector<float>& bias) {
  const int64_t width = int64_t(bias.size());
  for (int32_t t = 0; t < n; ++t) add(x + t * width, bias.data(), width);
}

void soft_cap(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

}  // namespace

void forward(const Model::Impl& model, KvCache& kv, std::span<const int32_t> tokens, int32_t pos0, bool all_logits,
             ForwardScratch& s, std::vector<float>& logits) {
  const Hparams& hp = model.hp;
  const Architecture& arch = *hp.family;
  const ModelWeights& w = model.weights;
  const int32_t n = int32_t(tokens.size());
  const int64_t d = hp.n_embd, qd = hp.q_dim(), kvd = hp.kv_dim();
  s.reserve(hp, n, kv.max_tokens());
  // LongRoPE's long factors serve contexts past the original one, as in llama.cpp.
  const bool long_context = !hp.rope_factors_long.empty() && kv.shape().n_ctx > hp.n_ctx_orig;
  const RopeTable rope_global = make_rope_table(hp.head_dim, hp.rope_theta, hp.rope_style, hp.rope_freq_scale,
                                                long_context ? hp.rope_factors_long : hp.rope_factors);
  const RopeTable rope_local = make_rope_table(hp.head_dim, hp.rope_theta_local, hp.rope_style);

  for (int32_t t = 0; t < n; ++t) {
    dequantize_row(w.token_embd, tokens[size_t(t)], &s.x[size_t(t * d)]);
    if (arch.embed_scale) scale(&s.x[size_t(t * d)], std::sqrt(float(d)), d);
  }

  for (int32_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    const AttendOptions attend_options{hp.layer_window[size_t(l)], hp.attn_softcap};
    const RopeTable& rope_table = attend_options.window > 0 ? rope_local : rope_global;

    for (int32_t t = 0; t < n; ++t) rmsnorm(&s.xb[size_t(t * d)], &s.x[size_t(t * d)], L.attn_norm.data(), d, hp.rms_eps);
    matmul(L.wq, s.xb.data(), n, s.q.data(), s.mm, s.pool.get());
    matmul(L.wk, s.xb.data(), n, s.k.data(), s.mm, s.pool.get());
    matmul(L.wv, s.xb.data(), n, s.v.data(), s.mm, s.pool.get());
    if (arch.qkv_bias) {
      add_bias(s.q.data(), n, L.bq);
      add_bias(s.k.data(), n, L.bk);
      add_bias(s.v.data(), n, L.bv);
    }
    if (arch.qk_norm) {
      rmsnorm_rows(s.q.data(), int64_t(n) * hp.n_head, hp.head_dim, L.q_norm, hp.rms_eps);
      rmsnorm_rows(s.k.data(), int64_t(n) * hp.n_head_kv, hp.head_dim, L.k_norm, hp.rms_eps);
    }
    for (int32_t t = 0; t < n; ++t) {
      const int32_t pos = pos0 + t;
      rope(&s.q[size_t(t * qd)], hp.n_head, rope_table, pos);
      rope(&s.k[size_t(t * kvd)], hp.n_head_kv, rope_table, pos);
      if (hp.rope_attn_factor != 1.0f) {  // ggml scales cos and sin by it, so q and k both grow
        scale(&s.q[size_t(t * qd)], hp.rope_attn_factor, qd);
        scale(&s.k[size_t(t * kvd)], hp.rope_attn_factor, kvd);
      }
      // Each token is stored and then attends, in order: a compressed or
      // evicting cache changes as tokens arrive, and this way a batch sees in
      // every layer exactly what tokens fed one at a time would.
      kv.store(l, pos, &s.k[size_t(t * kvd)], &s.v[size_t(t * kvd)]);
      kv.attend(l, &s.q[size_t(t * qd)], hp.n_head, pos + 1, &s.att[size_t(t * qd)], s.scores.data(),
                attend_options, s.pool.get());
    }
    matmul(L.wo, s.att.data(), n, s.xb.data(), s.mm, s.pool.get());
    if (arch.post_norms) rmsnorm_rows(s.xb.data(), n, d, L.post_attn_norm, hp.rms_eps);
    add(s.x.data(), s.xb.data(), n * d);

    for (int32_t t = 0; t < n; ++t) rmsnorm(&s.xb[size_t(t * d)], &s.x[size_t(t * d)], L.ffn_norm.data(), d, hp.rms_eps);
    matmul(L.ffn_gate, s.xb.data(), n, s.hb.data(), s.mm, s.pool.get());
    matmul(L.ffn_up, s.xb.data(), n, s.hb2.data(), s.mm, s.pool.get());
    if (arch.gelu) geglu(s.hb.data(), s.hb2.data(), int64_t(n) * hp.n_ff);
    else swiglu(s.hb.data(), s.hb2.data(), int64_t(n) * hp.n_ff);
    matmul(L.ffn_down, s.hb.data(), n, s.xb.data(), s.mm, s.pool.get());
    if (arch.post_norms) rmsnorm_rows(s.xb.data(), n, d, L.post_ffn_norm, hp.rms_eps);
    add(s.x.data(), s.xb.data(), n * d);
  }

  const int32_t first = all_logits ? 0 : n - 1;
  const int32_t n_out = n - first;
  for (int32_t t = 0; t < n_out; ++t) {
    rmsnorm(&s.xb[size_t(t * d)], &s.x[size_t((first + t) * d)], w.output_norm.data(), d, hp.rms_eps);
  }
  logits.resize(size_t(n_out) * size_t(hp.n_vocab));
  matmul(w.output, s.xb.data(), n_out, logits.data(), s.mm, s.pool.get());
  if (hp.final_softcap > 0.0f) soft_cap(logits.data(), int64_t(logits.size()), hp.final_softcap);
}

}  // namespace kvlite
