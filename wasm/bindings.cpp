// Embind bindings: the engine a browser Worker drives, over the public header
// only. Model bytes come from JS through a ByteSource whose read() calls the
// worker's reader (a File slice, an ArrayBuffer, a URL range), which copies
// straight into the tensor's final allocation in wasm memory.
//
// Results cross the boundary as JSON text (info, stats) or plain numbers and
// strings, so the bindings need no Embind value types and the TypeScript side
// owns the typed shapes.
#include <emscripten.h>
#include <emscripten/bind.h>
#include <emscripten/heap.h>
#include <malloc.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "format/byte_source.h"
#include "kvlite/kvlite.h"

namespace {

using namespace kvlite;

// JS side (worker): Module.kvliteHost = { read(source, offset, heap, dst, n) ->
// error string or "", progress(done, total) -> false to cancel }.
EM_JS(int, kvlite_host_read, (int source, double offset, uint8_t* dst, double n, char* err, int err_cap), {
  const message = Module["kvliteHost"].read(source, offset, HEAPU8, dst, n);
  if (!message) return 0;
  stringToUTF8(message, err, err_cap);
  return 1;
});

EM_JS(int, kvlite_host_progress, (double done, double total), {
  return Module["kvliteHost"].progress(done, total) ? 1 : 0;
});

class JsByteSource : public ByteSource {
 public:
  JsByteSource(int id, uint64_t size, std::string name) : id_(id), size_(size), name_(std::move(name)) {}
  uint64_t size() const override { return size_; }
  std::string describe() const override { return name_; }
  Status read(uint64_t offset, void* dst, size_t n) override {
    if (offset > size_ || n > size_ - offset) {
      return Status::Error("read of " + std::to_string(n) + " bytes at offset " + std::to_string(offset) +
                           " runs past the end of the " + std::to_string(size_) + "-byte file");
    }
    char err[512] = {0};
    if (kvlite_host_read(id_, double(offset), static_cast<uint8_t*>(dst), double(n), err, sizeof err)) {
      return Status::Error("reading " + std::to_string(n) + " bytes at offset " + std::to_string(offset) + ": " + err);
    }
    return Status::Ok();
  }

 private:
  int id_;
  uint64_t size_;
  std::string name_;
};

// Minimal JSON writer: numbers, strings, nested objects and arrays by hand.
std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Fields {
 public:
  Fields& num(const char* key, double v) { return raw(key, json_number(v)); }
  Fields& str(const char* key, std::string_view v) { return raw(key, json_string(v)); }
  Fields& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  Fields& raw(const char* key, const std::string& json) {
    text_ += (text_.empty() ? "" : ",") + json_string(key) + ":" + json;
    return *this;
  }
  std::string object() const { return "{" + text_ + "}"; }

 private:
  std::string text_;
};

// Metadata strings come rendered as GGUF's quoted, escaped text; undo that so
// chat templates reach JS as written.
std::string unquote(const std::string& rendered) {
  if (rendered.size() < 2 || rendered.front() != '"' || rendered.back() != '"') return rendered;
  std::string out;
  for (size_t i = 1; i + 1 < rendered.size(); ++i) {
    char c = rendered[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    const char e = rendered[++i];
    if (e == 'n') {
      out += '\n';
    } else if (e == 'x' && i + 2 < rendered.size()) {
      out += char(std::stoi(rendered.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += e;
    }
  }
  return out;
}

std::string kv_layers_json(const KvStats& kv) {
  std::string layers = "[";
  for (size_t i = 0; i < kv.layers.size(); ++i) {
    const KvLayerStats& l = kv.layers[i];
    layers += (i ? "," : "") + Fields()
                                  .num("tokens", l.tokens)
                                  .num("compressedTokens", l.compressed_tokens)
                                  .num("budget", l.budget)
                                  .num("evicted", double(l.evicted))
                                  .num("bytes", double(l.bytes))
                                  .num("usedBytes", double(l.used_bytes))
                                  .num("compressedBytes", double(l.compressed_bytes))
                                  .num("compressedF32Bytes", double(l.compressed_f32_bytes))
                                  .num("f32Bytes", double(l.f32_bytes))
                                  .num("f16Bytes", double(l.f16_bytes))
                                  .num("entropyBits", l.entropy_bits)
                                  .num("recentShare", l.recent_share)
                                  .object();
  }
  return layers + "]";
}

// The KV options as the TypeScript API names them, to a KvConfig.
std::string kv_config(const std::string& k_type, const std::string& v_type, int window, int sinks,
                      const std::string& eviction, int budget, const std::string& pyramid, bool sliding,
                      bool attention_stats, KvConfig& kv) {
  if (!parse_kv_type(k_type, &kv.k_type)) return "unknown KV key type '" + k_type + "'";
  if (!parse_kv_type(v_type, &kv.v_type)) return "unknown KV value type '" + v_type + "'";
  kv.window = window;
  kv.sinks = sinks;
  if (eviction == "h2o") {
    kv.eviction = KvEviction::H2O;
  } else if (eviction != "none") {
    return "unknown eviction policy '" + eviction + "' (none, h2o)";
  }
  kv.budget = budget;
  if (pyramid == "fixed") {
    kv.pyramid = KvPyramid::Fixed;
  } else if (pyramid == "entropy") {
    kv.pyramid = KvPyramid::Entropy;
  } else if (pyramid != "none") {
    return "unknown pyramid schedule '" + pyramid + "' (none, fixed, entropy)";
  }
  kv.sliding = sliding;
  kv.attention_stats = attention_stats;
  return "";
}

// Bytes malloc currently hands out: what a new model must fit beside.
double heap_in_use() { return double(mallinfo().uordblks); }

// One model, one session and at most one running generation: what a worker owns.
class Engine {
 public:
  // Returns "" or the error. The reader `source` is registered on the JS side.
  std::string load(int source, double size, const std::string& name, double max_weight_bytes) {
    unload();
    LoadParams params;
    params.max_weight_bytes = uint64_t(max_weight_bytes);
    params.on_progress = [](uint64_t done, uint64_t total) { return kvlite_host_progress(double(done), double(total)) != 0; };
    JsByteSource src(source, uint64_t(size), name);
    auto model = Model::load(src, params);
    if (!model) return model.message();
    model_ = model.value();
    return "";
  }

  void unload() {
    stream_.reset();
    session_.reset();
    model_.reset();
  }

  bool loaded() const { return model_ != nullptr; }

  // (Re)creates the session: a new context length, thread count or KV
  // configuration needs a new cache. Returns "" or the error.
  std::string configure(int n_ctx, int threads, const std::string& k_type, const std::string& v_type, int window,
                        int sinks, const std::string& eviction, int budget, const std::string& pyramid, bool sliding,
                        bool attention_stats, double max_kv_bytes) {
    if (!model_) return "no model is loaded";
    SessionParams sp;
    sp.n_ctx = n_ctx;
    sp.threads = threads;
    const std::string err =
        kv_config(k_type, v_type, window, sinks, eviction, budget, pyramid, sliding, attention_stats, sp.kv);
    if (!err.empty()) return err;
    // The cache is allocated whole at creation: refuse before malloc fails
    // (an allocation failure aborts the module instead of returning an error).
    const ModelInfo& info = model_->info();
    const double ctx = n_ctx > 0 ? n_ctx : std::min(info.n_ctx_train, 4096);
    const double f32_kv = 2.0 * 4 * info.n_layer * ctx * info.n_head_kv * info.head_dim;
    stream_.reset();
    session_.reset();
    if (max_kv_bytes > 0 && f32_kv > max_kv_bytes) {
      return "the KV cache for " + std::to_string(int64_t(ctx)) + " tokens needs up to " +
             std::to_string(int64_t(f32_kv)) + " bytes, more than the " + std::to_string(int64_t(max_kv_bytes)) +
             " bytes of memory left";
    }
    auto session = Session::create(model_, sp);
    if (!session) return session.message();
    session_ = std::move(session.value());
    return "";
  }

  std::string start(const std::string& prompt, int max_tokens, double temperature, int top_k, double top_p,
                    double min_p, double repeat_penalty, int repeat_last_n, double seed) {
    if (!session_) return "no model is loaded";
    stream_.reset();
    SamplerParams sp;
    sp.temperature = float(temperature);
    sp.top_k = top_k;
    sp.top_p = float(top_p);
    sp.min_p = float(min_p);
    sp.repeat_penalty = float(repeat_penalty);
    sp.repeat_last_n = repeat_last_n;
    sp.seed = uint64_t(seed);
    auto stream = TokenStream::start(*session_, prompt, max_tokens, sp);
    if (!stream) return stream.message();
    stream_ = std::move(stream.value());
    return "";
  }

  // One token as JSON {piece, id, done} or {error}.
  std::string step() {
    if (!stream_) return Fields().str("error", "no generation is running").object();
    auto step = stream_->next();
    if (!step) return Fields().str("error", step.message()).object();
    return Fields().str("piece", step->piece).num("id", step->id).boolean("done", step->done).object();
  }

  void reset() {
    stream_.reset();
    if (session_) session_->reset();
  }

  std::string tokenize(const std::string& text) const {
    if (!model_) return "[]";
    std::string out = "[";
    const auto ids = model_->tokenize(text, true, true);
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
    return out + "]";
  }

  std::string info() const {
    if (!model_) return "null";
    const ModelInfo& i = model_->info();
    std::string meta = "{";
    bool first = true;
    for (const auto& [key, value] : model_->metadata()) {
      // Token tables are long and not useful to a page; everything else is.
      if (key.rfind("tokenizer.ggml.", 0) == 0) continue;
      meta += (first ? "" : ",") + json_string(key) + ":" + json_string(unquote(value));
      first = false;
    }
    meta += "}";
    return Fields()
        .str("architecture", i.architecture)
        .str("name", i.name)
        .num("nLayer", i.n_layer)
        .num("nEmbd", i.n_embd)
        .num("nHead", i.n_head)
        .num("nHeadKv", i.n_head_kv)
        .num("headDim", i.head_dim)
        .num("nFf", i.n_ff)
        .num("nVocab", i.n_vocab)
        .num("nCtxTrain", i.n_ctx_train)
        .num("weightBytes", double(i.weight_bytes))
        .num("fileBytes", double(i.file_bytes))
        .num("bos", model_->bos())
        .num("eos", model_->eos())
        .raw("metadata", meta)
        .object();
  }

  std::string stats() const {
    Fields f;
    f.str("kernels", active_kernel_set_name());
    f.num("heapBytes", double(emscripten_get_heap_size())).num("mallocBytes", heap_in_use());
    if (session_) {
      f.num("nPast", session_->n_past()).num("nCtx", session_->n_ctx());
      const KvStats kv = session_->kv_stats();
      f.raw("kv", Fields()
                      .str("kType", kv.k_type)
                      .str("vType", kv.v_type)
                      .num("window", kv.window)
                      .num("sinks", kv.sinks)
                      .num("tokensSeen", double(kv.tokens_seen))
                      .num("bytes", double(kv.bytes))
                      .num("usedBytes", double(kv.used_bytes))
                      .num("f32Bytes", double(kv.f32_bytes))
                      .num("f16Bytes", double(kv.f16_bytes))
                      .raw("layers", kv_layers_json(kv))
                      .object());
    }
    if (stream_) {
      const GenerateStats& g = stream_->stats();
      f.raw("generation", Fields()
                              .num("promptTokens", g.prompt_tokens)
                              .num("generatedTokens", g.generated_tokens)
                              .num("promptSeconds", g.prompt_seconds)
                              .num("generateSeconds", g.generate_seconds)
                              .num("promptTokensPerSecond", g.prompt_tokens_per_second())
                              .num("generateTokensPerSecond", g.generate_tokens_per_second())
                              .boolean("stoppedAtEos", g.stopped_at_eos)
                              .boolean("stoppedAtContext", g.stopped_at_context)
                              .object());
    }
    return f.object();
  }

 private:
  std::shared_ptr<Model> model_;
  std::unique_ptr<Session> session_;
  std::unique_ptr<TokenStream> stream_;
};

}  // namespace

EMSCRIPTEN_BINDINGS(kvlite) {
  emscripten::class_<Engine>("Engine")
      .constructor<>()
      .function("load", &Engine::load)
      .function("unload", &Engine::unload)
      .function("loaded", &Engine::loaded)
      .function("configure", &Engine::configure)
      .function("start", &Engine::start)
      .function("step", &Engine::step)
      .function("reset", &Engine::reset)
      .function("tokenize", &Engine::tokenize)
      .function("info", &Engine::info)
      .function("stats", &Engine::stats);
  emscripten::function("heapInUse", &heap_in_use);
}
