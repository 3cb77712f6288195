// The KV configuration through the public API: sessions with compressed,
// evicting and sliding caches on a generated model.
#include <gtest/gtest.h>

#include <cmath>

#include "kvlite/kvlite.h"
#include "support/temp_dir.h"

namespace kvlite {
namespace {

std::shared_ptr<Model> make_model(test::TempDir& dir) {
  RandomModelSpec spec;
  spec.n_ctx = 64;
  const std::string path = dir.path("kv-model.gguf");
  EXPECT_TRUE(write_random_model(spec, path).ok());
  auto model = Model::load_file(path);
  EXPECT_TRUE(model.ok()) << model.message();
  return model.ok() ? model.value() : nullptr;
}

std::string text_of(int n_words) {
  std::string t;
  for (int i = 0; i < n_words; ++i) t += (i % 3 ? "the cat " : "ate an orange ");
  return t;
}

TEST(KvSession, SlidingWindowGeneratesPastTheContext) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  SessionParams p;
  p.n_ctx = 32;
  p.kv.sliding = true;
  p.kv.window = 16;
  p.kv.sinks = 2;
  auto s = Session::create(model, p);
  ASSERT_TRUE(s.ok()) << s.message();
  // Past n_ctx one token at a time, as generation goes.
  for (int32_t i = 0; i < 100; ++i) {
    const int32_t id = 3 + (i * 37) % 280;
    ASSERT_TRUE(s.value()->eval(std::span<const int32_t>(&id, 1)).ok()) << "token " << i;
  }
  EXPECT_EQ(s.value()->n_past(), 100);
  const KvStats st = s.value()->kv_stats();
  EXPECT_EQ(st.layers[0].tokens, 18);
  EXPECT_EQ(st.tokens_seen, s.value()->n_past());
}

TEST(KvSession, PerplexityThroughCompressedCacheIsCloseToFp32) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  const std::string text = text_of(200);
  auto base = perplexity(model, text, 64);
  ASSERT_TRUE(base.ok()) << base.message();
  KvConfig kv;
  kv.k_type = kv.v_type = KvType::Q8;
  kv.window = 8;
  int32_t scored = 0;
  KvStats stats;
  auto q8 = perplexity(model, text, 64, kv, nullptr, [&](std::span<const float>, int32_t) { ++scored; }, &stats);
  ASSERT_TRUE(q8.ok()) << q8.message();
  EXPECT_EQ(scored, q8.value().n_scored);
  EXPECT_NEAR(q8.value().ppl, base.value().ppl, 0.01 * base.value().ppl);
  EXPECT_EQ(stats.tokens_seen, 64);
  EXPECT_GT(stats.layers[0].compressed_tokens, 0);
  uint64_t sum = 0;
  for (const KvLayerStats& l : stats.layers) sum += l.bytes;
  EXPECT_EQ(sum, stats.bytes);
}

TEST(KvSession, DefaultCacheIsUnchangedAndBadConfigsAreRefused) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  auto plain = perplexity(model, text_of(200), 64);
  auto same = perplexity(model, text_of(200), 64, KvConfig{}, nullptr, nullptr);
  ASSERT_TRUE(plain.ok() && same.ok());
  EXPECT_EQ(plain.value().ppl, same.value().ppl);
  SessionParams p;
  p.kv.k_type = KvType::Q4_0;  // head dim 16 here: llama.cpp's q4_0 needs 32
  auto bad = Session::create(model, p);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("q4_0"), std::string::npos);
}

}  // namespace
}  // namespace kvlite
