// kvlite: the native command-line front end over the public API.
//   kvlite generate   -m MODEL -p PROMPT -n N [sampling flags]
//   kvlite perplexity -m MODEL -f TEXTFILE -c CTX
//   kvlite tokenize   -m MODEL -p TEXT
//   kvlite info       -m MODEL
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include "args.h"
#include "commands.h"
#include "logprobs.h"
#include "kvlite/kvlite.h"

namespace kvlite::cli {

int fail(const std::string& message) {
  std::fprintf(stderr, "kvlite: error: %s\n", message.c_str());
  return 1;
}

Result<std::shared_ptr<Model>> load_model(const Args& args) {
  if (!args.has("--model")) return Status::Error("missing -m MODEL");
  return Model::load_file(args.get("--model"));
}

namespace {

// The KV flags shared by generate, perplexity and bench-context.
const std::vector<FlagSpec> kKvFlags = {
    {"--kv-k", ""},      {"--kv-v", ""},          {"--kv-window", ""}, {"--kv-sinks", ""},
    {"--evict", ""},     {"--kv-budget", ""},     {"--pyramid", "", false}, {"--pyramid-entropy", "", false},
    {"--kv-sliding", "", false}, {"--kv-stats", "", false},
};

}  // namespace

std::vector<FlagSpec> with_kv_flags(std::vector<FlagSpec> flags) {
  flags.insert(flags.end(), kKvFlags.begin(), kKvFlags.end());
  return flags;
}

Result<KvConfig> kv_config(Args& args) {
  KvConfig kv;
  for (const auto& [flag, type] : {std::pair{"--kv-k", &kv.k_type}, std::pair{"--kv-v", &kv.v_type}}) {
    if (args.has(flag) && !parse_kv_type(args.get(flag), type)) {
      return Status::Error(std::string("unknown KV type '") + args.get(flag) + "' for " + flag +
                           " (f32 f16 q8 q4 q3 q2 q4_0 q4t q4c q4h)");
    }
  }
  kv.window = int32_t(args.integer("--kv-window", kv.window));
  kv.sinks = int32_t(args.integer("--kv-sinks", kv.sinks));
  kv.budget = int32_t(args.integer("--kv-budget", 0));
  if (args.has("--evict")) {
    const std::string e = args.get("--evict");
    if (e != "h2o" && e != "h2o-mean") return Status::Error("unknown eviction policy '" + e + "' (h2o, h2o-mean)");
    kv.eviction = e == "h2o" ? KvEviction::H2O : KvEviction::H2OMean;
  }
  if (args.has("--pyramid")) kv.pyramid = KvPyramid::Fixed;
  if (args.has("--pyramid-entropy")) kv.pyramid = KvPyramid::Entropy;
  kv.sliding = args.has("--kv-sliding");
  kv.attention_stats = args.has("--kv-stats");
  if (args.error()) return Status::Error(*args.error());
  return kv;
}

namespace {

const FlagSpec kModel{"--model", "-m"};

void print_usage() {
  std::fprintf(stderr,
               "usage:\n"
               "  kvlite generate   -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p P]\n"
               "                    [--repeat-penalty R] [--seed S] [-c CTX] [-t THREADS] [KV flags]\n"
               "  kvlite perplexity -m MODEL -f TEXTFILE [-c CTX] [-t THREADS] [KV flags]\n"
               "  KV flags: --kv-k TYPE --kv-v TYPE (f32 f16 q8 q4 q3 q2 q4_0 q4t q4c q4h) --kv-window W\n"
               "            --kv-sinks S --evict h2o|h2o-mean --kv-budget TOKENS --pyramid | --pyramid-entropy\n"
               "            --kv-sliding --kv-stats\n"
               "  kvlite tokenize   -m MODEL -p TEXT\n"
               "  kvlite info       -m MODEL\n");
}

void print_kv_stats(const KvStats& st) {
  std::fprintf(stderr, "kv cache: K %s, V %s, window %d, sinks %d, %lld tokens seen\n", st.k_type.c_str(),
               st.v_type.c_str(), st.window, st.sinks, static_cast<long long>(st.tokens_seen));
  // "compr" columns: the tokens outside sinks and window, their bytes and
  // what they would take in FP32.
  std::fprintf(stderr, "%5s %7s %7s %7s %8s %11s %11s %11s %11s %11s %11s %8s %8s\n", "layer", "tokens", "compr",
               "budget", "evicted", "bytes", "used", "compr", "compr-fp32", "fp32", "fp16", "H(bits)", "recent");
  for (size_t l = 0; l < st.layers.size(); ++l) {
    const KvLayerStats& s = st.layers[l];
    std::fprintf(stderr, "%5zu %7d %7d %7d %8lld %11llu %11llu %11llu %11llu %11llu %11llu %8.3f %8.3f\n", l,
                 s.tokens, s.compressed_tokens, s.budget, static_cast<long long>(s.evicted),
                 static_cast<unsigned long long>(s.bytes), static_cast<unsigned long long>(s.used_bytes),
                 static_cast<unsigned long long>(s.compressed_bytes),
                 static_cast<unsigned long long>(s.compressed_f32_bytes), static_cast<unsigned long long>(s.f32_bytes),
                 static_cast<unsigned long long>(s.f16_bytes), s.entropy_bits, s.recent_share);
  }
  std::fprintf(stderr, "total: %llu bytes allocated, %llu used; FP32 would hold %llu, FP16 %llu\n",
               static_cast<unsigned long long>(st.bytes), static_cast<unsigned long long>(st.used_bytes),
               static_cast<unsigned long long>(st.f32_bytes), static_cast<unsigned long long>(st.f16_bytes));
}

int cmd_generate(Args& args) {
  SamplerParams sp;
  sp.temperature = float(args.number("--temp", sp.temperature));
  sp.top_k = int32_t(args.integer("--top-k", sp.top_k));
  sp.top_p = float(args.number("--top-p", sp.top_p));
  sp.min_p = float(args.number("--min-p", sp.min_p));
  sp.repeat_penalty = float(args.number("--repeat-penalty", sp.repeat_penalty));
  sp.seed = uint64_t(args.integer("--seed", int64_t(sp.seed)));
  const int64_t n = args.integer("--n-predict", 64);
  const int64_t ctx = args.integer("--ctx-size", 0);
  const int64_t threads = args.integer("--threads", 1);
  if (args.error()) return fail(*args.error());
  if (!args.has("--prompt")) return fail("missing -p PROMPT");
  auto model = load_model(args);
  if (!model) return fail(model.message());
  auto kv = kv_config(args);
  if (!kv) return fail(kv.message());
  SessionParams params;
  params.n_ctx = int32_t(ctx);
  params.threads = int32_t(threads);
  params.kv = kv.value();
  auto session = Session::create(model.value(), params);
  if (!session) return fail(session.message());
  auto stats = session.value()->generate(args.get("--prompt"), int32_t(n), sp, [](std::string_view piece, int32_t) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  if (!stats) return fail(stats.message());
  std::printf("\n");
  const GenerateStats& s = stats.value();
  std::fprintf(stderr, "prompt: %d tokens in %.3f s (%.1f tokens/s)\n", s.prompt_tokens, s.prompt_seconds,
               s.prompt_tokens_per_second());
  std::fprintf(stderr, "generate: %d tokens in %.3f s (%.1f tokens/s)%s\n", s.generated_tokens, s.generate_seconds,
               s.generate_tokens_per_second(), s.stopped_at_eos ? ", stopped at end of text" : "");
  if (args.has("--kv-stats")) print_kv_stats(session.value()->kv_stats());
  return 0;
}

int cmd_perplexity(Args& args) {
  const int64_t ctx = args.integer("--ctx-size", 512);
  const int64_t threads = args.integer("--threads", 1);
  if (args.error()) return fail(*args.error());
  if (!args.has("--file")) return fail("missing -f TEXTFILE");
  std::ifstream in(args.get("--file"), std::ios::binary);
  if (!in) return fail("cannot open text file '" + args.get("--file") + "'");
  std::stringstream text;
  text << in.rdbuf();
  auto kv = kv_config(args);
  if (!kv) return fail(kv.message());
  auto model = load_model(args);
  if (!model) return fail(model.message());
  LogprobFile logprobs;
  if (auto err = logprobs.open(args)) return fail(*err);
  // Progress on a terminal only: logs should not fill with carriage returns.
  const bool tty = isatty(fileno(stderr));
  KvStats stats;
  auto result = perplexity(
      model.value(), text.str(), int32_t(ctx), kv.value(),
      [tty](int32_t done, int32_t total) {
        if (tty) std::fprintf(stderr, "\rchunk %d/%d", done, total);
        return true;
      },
      logprobs.active() ? std::function<void(std::span<const float>, int32_t)>(
                              [&](std::span<const float> lg, int32_t next) { logprobs.add(lg, next); })
                        : nullptr,
      &stats, int32_t(threads));
  if (tty) std::fprintf(stderr, "\n");
  if (!result) return fail(result.message());
  const PerplexityResult& r = result.value();
  std::fprintf(stderr, "%d chunks of %d tokens, %d scored, %.2f s\n", r.n_chunks, int(ctx), r.n_scored, r.seconds);
  if (args.has("--kv-stats")) print_kv_stats(stats);
  if (auto err = logprobs.finish()) return fail(*err);
  std::printf("PPL = %.4f +/- %.4f\n", r.ppl, r.ppl_err);
  return 0;
}

int cmd_tokenize(Args& args) {
  if (!args.has("--prompt")) return fail("missing -p TEXT");
  auto model = load_model(args);
  if (!model) return fail(model.message());
  const std::vector<int32_t> ids = model.value()->tokenize(args.get("--prompt"), true, true);
  for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
  std::printf("\n");
  return 0;
}

int cmd_info(Args& args) {
  auto model = load_model(args);
  if (!model) return fail(model.message());
  const Model& m = *model.value();
  const ModelInfo& info = m.info();
  std::printf("architecture: %s  name: %s\n", info.architecture.c_str(), info.name.c_str());
  std::printf("layers %d  embd %d  heads %d/%d (head dim %d)  ffn %d  vocab %d  ctx %d\n", info.n_layer, info.n_embd,
              info.n_head, info.n_head_kv, info.head_dim, info.n_ff, info.n_vocab, info.n_ctx_train);
  std::printf("weights in memory: %llu bytes  file: %llu bytes\n\nmetadata:\n",
              static_cast<unsigned long long>(info.weight_bytes), static_cast<unsigned long long>(info.file_bytes));
  for (const auto& [key, value] : m.metadata()) std::printf("  %-40s %s\n", key.c_str(), value.c_str());
  std::printf("\ntensors:\n");
  for (const TensorSummary& t : m.tensors()) {
    std::string dims;
    for (size_t i = 0; i < t.dims.size(); ++i) dims += (i ? " x " : "") + std::to_string(t.dims[i]);
    std::printf("  %-32s %-7s %-16s offset %-10llu %llu bytes\n", t.name.c_str(), t.type.c_str(), dims.c_str(),
                static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.bytes));
  }
  return 0;
}

struct Command {
  const char* name;
  int (*run)(Args&);
  std::vector<FlagSpec> flags;
};

std::vector<Command> commands() {
  return {
      {"generate", cmd_generate,
       with_kv_flags({kModel, {"--prompt", "-p"}, {"--n-predict", "-n"}, {"--temp", ""}, {"--top-k", ""},
                      {"--top-p", ""}, {"--min-p", ""}, {"--repeat-penalty", ""}, {"--seed", ""},
                      {"--ctx-size", "-c"}, {"--threads", "-t"}})},
      {"perplexity", cmd_perplexity,
       with_kv_flags({kModel, {"--file", "-f"}, {"--ctx-size", "-c"}, {"--dump-logprobs", ""}, {"--kl-base", ""},
                      {"--threads", "-t"}})},
      {"tokenize", cmd_tokenize, {kModel, {"--prompt", "-p"}}},
      {"info", cmd_info, {kModel}},
      {"gen-model", cmd_gen_model, {{"--shape", ""}, {"--type", ""}, {"--vocab", ""}, {"--output", "-o"}}},
      {"bench-context", cmd_bench_context,
       with_kv_flags({kModel, {"--contexts", ""}, {"--n-predict", "-n"}, {"--threads", "-t"}, {"--rounds", ""},
                      {"--caches", ""}})},
  };
}

}  // namespace
}  // namespace kvlite::cli

int main(int argc, char** argv) {
  using namespace kvlite::cli;
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage();
    return argc < 2 ? 1 : 0;
  }
  for (Command& cmd : commands()) {
    if (argv[1] != std::string(cmd.name)) continue;
    Args args;
    if (auto err = args.parse(argc, argv, 2, cmd.flags)) {
      print_usage();
      return fail(*err);
    }
    return cmd.run(args);
  }
  print_usage();
  return fail(std::string("unknown command '") + argv[1] + "'");
}
