// kvlite bench-context: generation speed against context length, for the KV
// cache configurations of docs/bench-browser.md (scripts/bench-long-context).
// Hidden from the usage text: a measuring tool of this repository.
//   kvlite bench-context -m MODEL [--contexts 2048,8192,16384] [-n 32] [-t 1] [KV flags]
// One session is filled with arbitrary tokens up to each context length in
// turn; at each, n more tokens are evaluated one at a time (what generation
// does per token, less sampling) and timed, in R rounds (--rounds, default 3)
// of which the fastest is reported: the machine this runs on may be shared.
// Token values do not change the cost of a step, and filling is not timed.
// Prints one JSON object per context.
#include "commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace kvlite::cli {
namespace {

Result<std::vector<int32_t>> parse_contexts(const std::string& list) {
  std::vector<int32_t> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v <= 0) return Status::Error("--contexts: '" + item + "' is not a token count");
    if (!out.empty() && v <= out.back()) return Status::Error("--contexts must increase");
    out.push_back(int32_t(v));
  }
  if (out.empty()) return Status::Error("--contexts is empty");
  return out;
}

}  // namespace

int cmd_bench_context(Args& args) {
  const int64_t n = args.integer("--n-predict", 32);
  const int64_t threads = args.integer("--threads", 1);
  const int64_t rounds = args.integer("--rounds", 3);
  if (args.error()) return fail(*args.error());
  if (n < 1 || rounds < 1) return fail("-n and --rounds must be at least 1");
  auto contexts = parse_contexts(args.get("--contexts", "2048,8192,16384"));
  if (!contexts) return fail(contexts.message());
  auto kv = kv_config(args);
  if (!kv) return fail(kv.message());
  auto model = load_model(args);
  if (!model) return fail(model.message());
  SessionParams params;
  params.n_ctx = contexts->back() + int32_t(n * rounds);
  params.threads = int32_t(threads);
  params.kv = *kv;
  auto session = Session::create(*model, params);
  if (!session) return fail(session.message());
  Session& s = **session;
  const int32_t n_vocab = (*model)->info().n_vocab;
  // A fixed, spread-out token sequence: ids cycle through the vocabulary.
  auto token_at = [n_vocab](int64_t pos) { return int32_t((pos * 7919 + 11) % (n_vocab - 1000)); };
  int64_t pos = 0;
  for (int32_t context : *contexts) {
    std::vector<int32_t> fill;
    for (; pos < context; ++pos) fill.push_back(token_at(pos));
    for (size_t i = 0; i < fill.size(); i += 512) {
      const size_t len = std::min<size_t>(512, fill.size() - i);
      if (Status st = s.eval(std::span(fill).subspan(i, len)); !st) return fail(st.message());
    }
    double secs = 0;
    for (int64_t round = 0; round < rounds; ++round) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < n; ++i, ++pos) {
        const int32_t tok = token_at(pos);
        if (Status st = s.eval(std::span(&tok, 1)); !st) return fail(st.message());
      }
      const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      secs = round == 0 ? t : std::min(secs, t);
    }
    const KvStats st = s.kv_stats();
    uint64_t used = 0;
    for (const KvLayerStats& layer : st.layers) used += layer.used_bytes;
    std::printf("{\"context\": %d, \"genTokens\": %lld, \"seconds\": %.4f, \"genTps\": %.3f, \"kvBytes\": %llu, "
                "\"kvUsedBytes\": %llu, \"tokensHeld\": %d}\n",
                context, static_cast<long long>(n), secs, double(n) / secs, static_cast<unsigned long long>(st.bytes),
                static_cast<unsigned long long>(used), st.layers.empty() ? 0 : st.layers[0].tokens);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace kvlite::cli
