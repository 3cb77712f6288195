// The llama forward pass, top to bottom in the order of the paper: embed,
// then per block RMSNorm -> q/k/v -> RoPE -> grouped-query attention -> output
// projection -> residual, RMSNorm -> SwiGLU FFN -> residual; final norm and
// the output matrix.
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

void forward_llama(const Model::Impl& model, KvCache& kv, std::span<const int32_t> tokens, int32_t pos0,
                   bool all_logits, ForwardScratch& s, std::vector<float>& logits) {
  const Hparams& hp = model.hp;
  const ModelWeights& w = model.weights;
  const int32_t n = int32_t(tokens.size());
  const int64_t d = hp.n_embd, qd = hp.q_dim(), kvd = hp.kv_dim();
  s.reserve(hp, n, kv.max_tokens());
  const RopeTable rope_table = make_rope_table(hp.head_dim, hp.rope_theta, hp.rope_style);

  for (int32_t t = 0; t < n; ++t) dequantize_row(w.token_embd, tokens[size_t(t)], &s.x[size_t(t * d)]);

  for (int32_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& L = w.layers[size_t(l)];
    for (int32_t t = 0; t < n; ++t) rmsnorm(&s.xb[size_t(t * d)], &s.x[size_t(t * d)], L.attn_norm.data(), d, hp.rms_eps);
    matmul(L.wq, s.xb.data(), n, s.q.data(), s.mm, s.pool.get());
    matmul(L.wk, s.xb.data(), n, s.k.data(), s.mm, s.pool.get());
    matmul(L.wv, s.xb.data(), n, s.v.data(), s.mm, s.pool.get());
    for (int32_t t = 0; t < n; ++t) {
      const int32_t pos = pos0 + t;
      rope(&s.q[size_t(t * qd)], hp.n_head, rope_table, pos);
      rope(&s.k[size_t(t * kvd)], hp.n_head_kv, rope_table, pos);
      kv.store(l, pos, &s.k[size_t(t * kvd)], &s.v[size_t(t * kvd)]);
    }
    for (int32_t t = 0; t < n; ++t) {
      kv.attend(l, &s.q[size_t(t * qd)], hp.n_head, pos0 + t + 1, &s.att[size_t(t * qd)], s.scores.data(),
               s.pool.get());
    }
    matmul(L.wo, s.att.data(), n, s.xb.data(), s.mm, s.pool.get());
    add(s.x.data(), s.xb.data(), n * d);

    for (int32_t t = 0; t < n; ++t) rmsnorm(&s.xb[size_t(t * d)], &s.x[size_t(t * d)], L.ffn_norm.data(), d, hp.rms_eps);
    matmul(L.ffn_gate, s.xb.data(), n, s.hb.data(), s.mm, s.pool.get());
    matmul(L.ffn_up, s.xb.data(), n, s.hb2.data(), s.mm, s.pool.get());
    swiglu(s.hb.data(), s.hb2.data(), int64_t(n) * hp.n_ff);
    matmul(L.ffn_down, s.hb.data(), n, s.xb.data(), s.mm, s.pool.get());
    add(s.x.data(), s.xb.data(), n * d);
  }

  const int32_t first = all_logits ? 0 : n - 1;
  const int32_t n_out = n - first;
  for (int32_t t = 0; t < n_out; ++t) {
    rmsnorm(&s.xb[size_t(t * d)], &s.x[size_t((first + t) * d)], w.output_norm.data(), d, hp.rms_eps);
  }
  logits.resize(size_t(n_out) * size_t(hp.n_vocab));
  matmul(w.output, s.xb.data(), n_out, logits.data(), s.mm, s.pool.get());
}

}  // namespace kvlite
