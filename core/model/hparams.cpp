#include <cmath>
#include <numbers>
#include <string>

#include "model/model.h"

namespace kvlite {

namespace {

// Reads the architecture's metadata keys; every error names its key.
class HparamReader {
 public:
  HparamReader(const GgufFile& gguf, const std::string& arch) : gguf_(gguf), p_(arch + ".") {}

  bool has(const std::string& key) const { return gguf_.find(p_ + key) != nullptr; }

  Status count(const std::string& key, int32_t& out) const {
    auto v = gguf_.get_int(p_ + key);
    if (!v) return v.status();
    if (v.value() <= 0 || v.value() > (1 << 24)) {
      return Status::Error("metadata key '" + p_ + key + "' has an out-of-range value " + std::to_string(v.value()));
    }
    out = int32_t(v.value());
    return Status::Ok();
  }

  // A float that must be positive when present (bases, factors, caps).
  Status positive(const std::string& key, float& out, float fallback) const {
    auto v = gguf_.get_float_or(p_ + key, fallback);
    if (!v) return v.status();
    if (!(v.value() > 0) || !std::isfinite(v.value())) {
      return Status::Error("metadata key '" + p_ + key + "' must be a positive number, not " +
                           std::to_string(v.value()));
    }
    out = float(v.value());
    return Status::Ok();
  }

  Result<std::string> string_or(const std::string& key, const std::string& fallback) const {
    return gguf_.get_string_or(p_ + key, fallback);
  }
  const std::string& prefix() const { return p_; }

 private:
  const GgufFile& gguf_;
  std::string p_;
};

// {arch}.rope.scaling.type: none, linear (positions divided by the factor),
// llama3 (low frequencies divided by the factor, high ones kept) or
// longrope (the file's rope_factors_short/long tensors, read by the loader).
Status read_rope_scaling(const HparamReader& r, Hparams& hp) {
  KVLITE_TRY(r.positive("rope.scaling.attn_factor", hp.rope_attn_factor, 1.0f));
  hp.n_ctx_orig = hp.n_ctx_train;
  if (r.has("rope.scaling.original_context_length")) KVLITE_TRY(r.count("rope.scaling.original_context_length", hp.n_ctx_orig));
  auto type = r.string_or("rope.scaling.type", "none");
  if (!type) return type.status();
  if (type.value() == "none" || type.value() == "longrope") return Status::Ok();
  float factor = 1.0f;
  KVLITE_TRY(r.positive("rope.scaling.factor", factor, 1.0f));
  if (type.value() == "linear") {
    hp.rope_freq_scale = 1.0f / factor;
    return Status::Ok();
  }
  if (type.value() == "llama3") {
    // Defaults are Llama 3.1's published values.
    float low = 1.0f, high = 4.0f, original = 8192.0f;
    KVLITE_TRY(r.positive("rope.scaling.low_freq_factor", low, low));
    KVLITE_TRY(r.positive("rope.scaling.high_freq_factor", high, high));
    if (r.has("rope.scaling.original_context_length")) original = float(hp.n_ctx_orig);
    if (high <= low) {
      return Status::Error("metadata key '" + r.prefix() + "rope.scaling.high_freq_factor' must exceed low_freq_factor");
    }
    hp.rope_factors = llama3_rope_factors(hp.head_dim, hp.rope_theta, factor, low, high, original);
    return Status::Ok();
  }
  return Status::Error("RoPE scaling type '" + type.value() + "' (" + r.prefix() +
                       "rope.scaling.type) is not supported; kvlite supports none, linear, llama3 and longrope");
}

// Which layers are local (sliding-window) ones, by the architecture's rule.
Status read_sliding_window(const GgufFile& gguf, const HparamReader& r, Hparams& hp) {
  hp.layer_window.assign(size_t(hp.n_layer), 0);
  if (hp.family->swa_period == 0 || !r.has("attention.sliding_window")) return Status::Ok();
  int32_t window = 0;
  KVLITE_TRY(r.count("attention.sliding_window", window));
  auto period = gguf.get_int_or(r.prefix() + "attention.sliding_window_pattern", hp.family->swa_period);
  if (!period) return period.status();
  if (period.value() < 0 || period.value() > (1 << 24)) {
    return Status::Error("metadata key '" + r.prefix() + "attention.sliding_window_pattern' has an out-of-range value " +
                         std::to_string(period.value()));
  }
  const int64_t n = period.value();  // 0: every layer local
  for (int32_t l = 0; l < hp.n_layer; ++l) {
    if (n == 0 || l % n < n - 1) hp.layer_window[size_t(l)] = window;
  }
  return Status::Ok();
}

}  // namespace

std::vector<float> llama3_rope_factors(int32_t head_dim, float theta, float factor, float low_freq_factor,
                                       float high_freq_factor, float original_ctx) {
  const double long_wavelength = double(original_ctx) / low_freq_factor;
  const double short_wavelength = double(original_ctx) / high_freq_factor;
  std::vector<float> factors(size_t(head_dim / 2));
  for (int32_t i = 0; i < head_dim / 2; ++i) {
    const double freq = std::pow(double(theta), -2.0 * i / head_dim);
    const double wavelength = 2 * std::numbers::pi / freq;
    double divisor = 1.0;
    if (wavelength > long_wavelength) {
      divisor = factor;
    } else if (wavelength >= short_wavelength) {
      // Between the two: the new frequency blends freq / factor and freq.
      const double smooth = (original_ctx / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor);
      divisor = 1.0 / ((1.0 - smooth) / factor + smooth);
    }
    factors[size_t(i)] = float(divisor);
  }
  return factors;
}

Result<Hparams> read_hparams(const GgufFile& gguf) {
  Hparams hp;
  auto arch = gguf.get_string("general.architecture");
  if (!arch) return arch.status();
  hp.arch = arch.value();
  hp.family = find_architecture(hp.arch);
  if (!hp.family) {
    return Status::Error("unsupported model architecture '" + hp.arch + "' (general.architecture); kvlite supports: " +
                         supported_architectures());
  }
  hp.rope_style = hp.family->rope;
  const HparamReader r(gguf, hp.arch);
  KVLITE_TRY(r.count("block_count", hp.n_layer));
  KVLITE_TRY(r.count("embedding_length", hp.n_embd));
  KVLITE_TRY(r.count("attention.head_count", hp.n_head));
  KVLITE_TRY(r.count("feed_forward_length", hp.n_ff));
  KVLITE_TRY(r.count("context_length", hp.n_ctx_train));
  hp.n_head_kv = hp.n_head;
  if (r.has("attention.head_count_kv")) KVLITE_TRY(r.count("attention.head_count_kv", hp.n_head_kv));
  hp.head_dim = hp.n_embd / hp.n_head;
  if (r.has("attention.key_length")) KVLITE_TRY(r.count("attention.key_length", hp.head_dim));
  if (hp.n_head % hp.n_head_kv != 0) {
    return Status::Error("attention.head_count " + std::to_string(hp.n_head) +
                         " is not a multiple of attention.head_count_kv " + std::to_string(hp.n_head_kv));
  }
  if (hp.head_dim % 2 != 0 || hp.head_dim > 1024) {
    return Status::Error("head dimension " + std::to_string(hp.head_dim) + " is not supported (must be even, at most 1024)");
  }
  for (const char* key : {"attention.value_length", "rope.dimension_count"}) {
    int32_t n = hp.head_dim;
    if (r.has(key)) KVLITE_TRY(r.count(key, n));
    if (n != hp.head_dim) {
      return Status::Error("metadata key '" + r.prefix() + key + "' is " + std::to_string(n) +
                           ", not the head dimension " + std::to_string(hp.head_dim) +
                           ": partial RoPE and distinct key/value sizes are not supported");
    }
  }
  auto eps = gguf.get_float_or(r.prefix() + "attention.layer_norm_rms_epsilon", 1e-5);
  if (!eps) return eps.status();
  hp.rms_eps = float(eps.value());
  KVLITE_TRY(r.positive("rope.freq_base", hp.rope_theta, 10000.0f));
  KVLITE_TRY(r.positive("rope.freq_base_swa", hp.rope_theta_local, hp.rope_theta));
  KVLITE_TRY(read_rope_scaling(r, hp));
  // Soft-caps apply only where the metadata sets them (gemma2).
  if (r.has("attn_logit_softcapping")) KVLITE_TRY(r.positive("attn_logit_softcapping", hp.attn_softcap, 0.0f));
  if (r.has("final_logit_softcapping")) KVLITE_TRY(r.positive("final_logit_softcapping", hp.final_softcap, 0.0f));
  KVLITE_TRY(read_sliding_window(gguf, r, hp));
  return hp;
}

}  // namespace kvlite
