// kvlite bench-context: generation speed against context length, for the KV
// cache configurations of docs/bench-browser.md (scripts/bench-long-context).
// Hidden from the usage text: a measuring tool of this repository.
//   kvlite bench-context -m MODEL [--contexts 2048,8192,16384] [-n 32] [-t 1] [--rounds 3]
//                        [KV flags | --caches "NAME=KV flags;NAME=KV flags;..."]
// One session per cache is filled with the same arbitrary tokens up to each
// context length in turn; at each, n more tokens are evaluated one at a time
// (what generation does per token, less sampling) and timed, in rounds that
// go from cache to cache (A B C A B C ...), so every cache meets the same
// spells of a shared machine; each cache's fastest round counts. Token values
// do not change the cost of a step, and filling is not timed. Prints one JSON
// object per cache and context.
#include "commands.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>
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
  struct Cache {
    std::string name;
    KvConfig kv;
    std::unique_ptr<Session> session;
    double best = 0;
  };
  std::vector<Cache> caches;
  if (args.has("--caches")) {
    std::stringstream list(args.get("--caches"));
    for (std::string item; std::getline(list, item, ';');) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos || eq == 0) return fail("--caches: '" + item + "' is not NAME=KV flags");
      std::vector<std::string> words{"bench-context"};
      std::stringstream flags(item.substr(eq + 1));
      for (std::string w; flags >> w;) words.push_back(w);
      std::vector<char*> argv;
      for (std::string& w : words) argv.push_back(w.data());
      Args sub;
      if (auto err = sub.parse(int(argv.size()), argv.data(), 1, with_kv_flags({}))) {
        return fail("--caches " + item.substr(0, eq) + ": " + *err);
      }
      auto kv = kv_config(sub);
      if (!kv) return fail("--caches " + item.substr(0, eq) + ": " + kv.message());
      caches.push_back({item.substr(0, eq), *kv, nullptr});
    }
  } else {
    auto kv = kv_config(args);
    if (!kv) return fail(kv.message());
    caches.push_back({"cache", *kv, nullptr});
  }
  auto model = load_model(args);
  if (!model) return fail(model.message());
  for (Cache& c : caches) {
    SessionParams params;
    params.n_ctx = contexts->back() + int32_t(n * rounds);
    params.threads = int32_t(threads);
    params.kv = c.kv;
    auto session = Session::create(*model, params);
    if (!session) return fail(c.name + ": " + session.message());
    c.session = std::move(*session);
  }
  const int32_t n_vocab = (*model)->info().n_vocab;
  // A fixed, spread-out token sequence: ids cycle through the vocabulary.
  auto token_at = [n_vocab](int64_t pos) { return int32_t((pos * 7919 + 11) % (n_vocab - 1000)); };
  int64_t pos = 0;
  for (int32_t context : *contexts) {
    std::vector<int32_t> fill;
    for (int64_t p = pos; p < context; ++p) fill.push_back(token_at(p));
    for (Cache& c : caches) {
      for (size_t i = 0; i < fill.size(); i += 512) {
        const size_t len = std::min<size_t>(512, fill.size() - i);
        if (Status st = c.session->eval(std::span(fill).subspan(i, len)); !st) return fail(c.name + ": " + st.message());
      }
      c.best = 0;
    }
    pos = std::max<int64_t>(pos, context);
    for (int64_t round = 0; round < rounds; ++round, pos += n) {
      for (Cache& c : caches) {
        const auto t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < n; ++i) {
          const int32_t tok = token_at(pos + i);
          if (Status st = c.session->eval(std::span(&tok, 1)); !st) return fail(c.name + ": " + st.message());
        }
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        c.best = c.best == 0 ? t : std::min(c.best, t);
      }
    }
    for (const Cache& c : caches) {
      const KvStats st = c.session->kv_stats();
      uint64_t used = 0;
      for (const KvLayerStats& layer : st.layers) used += layer.used_bytes;
      std::printf("{\"cache\": \"%s\", \"context\": %d, \"genTokens\": %lld, \"seconds\": %.4f, \"genTps\": %.3f, "
                  "\"kvBytes\": %llu, \"kvUsedBytes\": %llu, \"tokensHeld\": %d}\n",
                  c.name.c_str(), context, static_cast<long long>(n), c.best, double(n) / c.best,
                  static_cast<unsigned long long>(st.bytes), static_cast<unsigned long long>(used),
                  st.layers.empty() ? 0 : st.layers[0].tokens);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace kvlite::cli
