#include <string>

#include "model/model.h"

namespace kvlite {

namespace {

bool is_supported_arch(const std::string& arch) { return arch == "llama"; }

}  // namespace

Result<Hparams> read_hparams(const GgufFile& gguf) {
  Hparams hp;
  auto arch = gguf.get_string("general.architecture");
  if (!arch) return arch.status();
  hp.arch = arch.value();
  if (!is_supported_arch(hp.arch)) {
    return Status::Error("unsupported model architecture '" + hp.arch + "' (general.architecture); kvlite supports: llama");
  }
  const std::string p = hp.arch + ".";
  auto int_key = [&](const std::string& key, int32_t& out) -> Status {
    auto v = gguf.get_int(p + key);
    if (!v) return v.status();
    if (v.value() <= 0 || v.value() > (1 << 24)) {
      return Status::Error("metadata key '" + p + key + "' has an out-of-range value " + std::to_string(v.value()));
    }
    out = int32_t(v.value());
    return Status::Ok();
  };
  KVLITE_TRY(int_key("block_count", hp.n_layer));
  KVLITE_TRY(int_key("embedding_length", hp.n_embd));
  KVLITE_TRY(int_key("attention.head_count", hp.n_head));
  KVLITE_TRY(int_key("feed_forward_length", hp.n_ff));
  KVLITE_TRY(int_key("context_length", hp.n_ctx_train));
  hp.n_head_kv = hp.n_head;
  if (gguf.find(p + "attention.head_count_kv")) KVLITE_TRY(int_key("attention.head_count_kv", hp.n_head_kv));
  hp.head_dim = hp.n_embd / hp.n_head;
  if (gguf.find(p + "attention.key_length")) KVLITE_TRY(int_key("attention.key_length", hp.head_dim));
  if (hp.n_head % hp.n_head_kv != 0) {
    return Status::Error("attention.head_count " + std::to_string(hp.n_head) +
                         " is not a multiple of attention.head_count_kv " + std::to_string(hp.n_head_kv));
  }
  if (hp.head_dim % 2 != 0 || hp.head_dim > 1024) {
    return Status::Error("head dimension " + std::to_string(hp.head_dim) + " is not supported (must be even, at most 1024)");
  }
  auto eps = gguf.get_float_or(p + "attention.layer_norm_rms_epsilon", 1e-5);
  if (!eps) return eps.status();
  hp.rms_eps = float(eps.value());
  auto theta = gguf.get_float_or(p + "rope.freq_base", 10000.0);
  if (!theta) return theta.status();
  hp.rope_theta = float(theta.value());
  return hp;
}

}  // namespace kvlite
