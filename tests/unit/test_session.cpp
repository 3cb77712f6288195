// The engine end to end on models it generates itself (no shared files):
// batched and token-by-token evaluation agree, generation is deterministic,
// perplexity follows its definition, and bad input leaves the session usable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kvlite/kvlite.h"
#include "support/temp_dir.h"

namespace kvlite {
namespace {

std::shared_ptr<Model> make_model(test::TempDir& dir, RandomModelSpec spec = {}) {
  const std::string path = dir.path("model-" + spec.weight_type + ".gguf");
  Status st = write_random_model(spec, path);
  EXPECT_TRUE(st.ok()) << st.message();
  auto model = Model::load_file(path);
  EXPECT_TRUE(model.ok()) << model.message();
  return model.ok() ? model.value() : nullptr;
}

std::vector<float> copy(std::span<const float> s) { return {s.begin(), s.end()}; }

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(Session, BatchedAndTokenByTokenLogitsAgree) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  const std::vector<int32_t> ids = model->tokenize("the cat ate an orange in the garden", true, false);
  ASSERT_GT(ids.size(), 8u);

  auto batched = Session::create(model);
  ASSERT_TRUE(batched.ok());
  ASSERT_TRUE(batched.value()->eval(ids, true).ok());
  auto stepped = Session::create(model);
  ASSERT_TRUE(stepped.ok());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_TRUE(stepped.value()->eval(std::span<const int32_t>(&ids[i], 1)).ok());
    const auto a = copy(batched.value()->logits(int32_t(i)));
    const auto b = copy(stepped.value()->logits());
    ASSERT_EQ(a.size(), size_t(model->info().n_vocab));
    EXPECT_LT(max_abs_diff(a, b), 1e-4f) << "position " << i;
  }
}

TEST(Session, PrefillLongerThanOneBatchMatchesStepping) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  std::vector<int32_t> ids;
  for (int i = 0; i < 150; ++i) ids.push_back(3 + (i * 37) % 280);
  auto a = Session::create(model);
  auto b = Session::create(model);
  ASSERT_TRUE(a.value()->eval(ids).ok());
  for (int32_t id : ids) ASSERT_TRUE(b.value()->eval(std::span<const int32_t>(&id, 1)).ok());
  EXPECT_LT(max_abs_diff(copy(a.value()->logits()), copy(b.value()->logits())), 1e-4f);
  EXPECT_EQ(a.value()->n_past(), 150);
}

// A compressed or evicting cache changes as tokens arrive; a batch stores and
// attends token by token inside each layer, so its logits are those of
// stepping, bit for bit (the matmul gives each token of a batch what it gets alone).
TEST(Session, CompressedAndEvictingCachesBatchExactlyAsTheyStep) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  std::vector<int32_t> ids;
  for (int i = 0; i < 150; ++i) ids.push_back(3 + (i * 37) % 280);
  struct Case { const char* name; KvConfig kv; };
  std::vector<Case> cases;
  KvConfig q4;
  q4.k_type = q4.v_type = KvType::Q4;
  q4.window = 16;
  cases.push_back({"k4v4 window 16", q4});
  KvConfig h2o = q4;
  h2o.eviction = KvEviction::H2O;
  h2o.budget = 48;
  cases.push_back({"h2o budget 48", h2o});
  KvConfig entropy = h2o;
  entropy.pyramid = KvPyramid::Entropy;
  entropy.attention_stats = true;
  cases.push_back({"entropy pyramid", entropy});
  KvConfig sliding = q4;
  sliding.k_type = sliding.v_type = KvType::F16;
  sliding.sliding = true;
  cases.push_back({"f16 sliding", sliding});
  for (const Case& c : cases) {
    SessionParams params;
    params.n_ctx = 256;
    params.kv = c.kv;
    auto batched = Session::create(model, params);
    auto stepped = Session::create(model, params);
    ASSERT_TRUE(batched.ok() && stepped.ok()) << c.name;
    ASSERT_TRUE(batched.value()->eval(ids, true).ok()) << c.name;
    for (size_t i = 0; i < ids.size(); ++i) {
      ASSERT_TRUE(stepped.value()->eval(std::span<const int32_t>(&ids[i], 1)).ok());
      const auto a = copy(batched.value()->logits(int32_t(i)));
      const auto b = copy(stepped.value()->logits());
      ASSERT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << c.name << " position " << i;
    }
    const KvStats sa = batched.value()->kv_stats(), sb = stepped.value()->kv_stats();
    ASSERT_EQ(sa.layers.size(), sb.layers.size());
    for (size_t l = 0; l < sa.layers.size(); ++l) {
      EXPECT_EQ(sa.layers[l].tokens, sb.layers[l].tokens) << c.name << " layer " << l;
      EXPECT_EQ(sa.layers[l].evicted, sb.layers[l].evicted) << c.name << " layer " << l;
    }
  }
}

TEST(Session, GreedyGenerationIsDeterministicAndContinues) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  SamplerParams greedy;
  greedy.temperature = 0;
  auto run = [&](std::string& text, std::vector<int32_t>& ids) {
    auto s = Session::create(model);
    auto stats = s.value()->generate("the", 20, greedy, [&](std::string_view piece, int32_t id) {
      text += piece;
      if (id >= 0) ids.push_back(id);
      return true;
    });
    ASSERT_TRUE(stats.ok()) << stats.message();
    EXPECT_EQ(stats.value().prompt_tokens, int32_t(model->tokenize("the").size()));
    EXPECT_EQ(stats.value().generated_tokens + (stats.value().stopped_at_eos ? 0 : 0), int32_t(ids.size()));
  };
  std::string t1, t2;
  std::vector<int32_t> i1, i2;
  run(t1, i1);
  run(t2, i2);
  EXPECT_EQ(i1, i2);
  EXPECT_EQ(t1, t2);
  EXPECT_FALSE(i1.empty());
}

TEST(Session, CancelStopsWithinOneToken) {
  test::TempDir dir;
  auto model = make_model(dir);
  auto s = Session::create(model);
  int calls = 0;
  SamplerParams sp;
  sp.seed = 7;
  auto stats = s.value()->generate("a", 50, sp, [&](std::string_view, int32_t id) { return id < 0 || ++calls < 3; });
  ASSERT_TRUE(stats.ok());
  if (!stats.value().stopped_at_eos) {
    EXPECT_TRUE(stats.value().cancelled);
    EXPECT_EQ(stats.value().generated_tokens, 3);
  }
}

TEST(Session, BadInputIsAnErrorAndTheSessionStaysUsable) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.n_ctx = 16;
  auto model = make_model(dir, spec);
  auto s = Session::create(model);
  ASSERT_TRUE(s.ok());
  SamplerParams sp;
  auto empty = s.value()->generate("", 5, sp, {});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.message().find("empty"), std::string::npos);

  const std::vector<int32_t> bad = {1, 99999};
  Status st = s.value()->eval(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("99999"), std::string::npos);
  EXPECT_EQ(s.value()->n_past(), 0);

  std::vector<int32_t> too_many(17, 5);
  st = s.value()->eval(too_many);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("context"), std::string::npos);

  const std::vector<int32_t> fine = {1, 5, 6};
  EXPECT_TRUE(s.value()->eval(fine).ok());
  EXPECT_EQ(s.value()->n_past(), 3);
}

TEST(Session, GenerationStopsAtTheContextLength) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.n_ctx = 12;
  auto model = make_model(dir, spec);
  auto s = Session::create(model);
  SamplerParams sp;
  sp.temperature = 0;
  auto stats = s.value()->generate("the", 100, sp, {});
  ASSERT_TRUE(stats.ok()) << stats.message();
  if (!stats.value().stopped_at_eos) {
    EXPECT_TRUE(stats.value().stopped_at_context);
    EXPECT_LE(s.value()->n_past(), 12);
  }
}

// Perplexity by its definition, recomputed here from the session's logits.
TEST(Perplexity, FollowsLlamaCppsChunkingAndScoring) {
  test::TempDir dir;
  auto model = make_model(dir);
  const std::string text = "the cat and the hen ate an orange in the garden on the farm\n";
  std::string long_text;
  for (int i = 0; i < 6; ++i) long_text += text;
  const int32_t ctx = 16;
  auto r = perplexity(model, long_text, ctx);
  ASSERT_TRUE(r.ok()) << r.message();

  std::string stripped = long_text.substr(0, long_text.size() - 1);
  const std::vector<int32_t> ids = model->tokenize(stripped, true, false);
  const int32_t chunks = int32_t(ids.size()) / ctx;
  double nll = 0;
  int count = 0;
  for (int32_t c = 0; c < chunks; ++c) {
    std::vector<int32_t> chunk(ids.begin() + c * ctx, ids.begin() + (c + 1) * ctx);
    chunk[0] = model->bos();
    auto s = Session::create(model);
    ASSERT_TRUE(s.value()->eval(chunk, true).ok());
    for (int32_t j = ctx / 2; j < ctx - 1; ++j) {
      const auto lg = copy(s.value()->logits(j));
      double sum = 0;
      for (float v : lg) sum += std::exp(double(v));
      nll += std::log(sum) - lg[size_t(chunk[size_t(j) + 1])];
      ++count;
    }
  }
  EXPECT_EQ(r.value().n_chunks, chunks);
  EXPECT_EQ(r.value().n_scored, count);
  EXPECT_EQ(r.value().n_scored, chunks * (ctx / 2 - 1));
  EXPECT_NEAR(r.value().ppl, std::exp(nll / count), 1e-3 * r.value().ppl);
  EXPECT_GT(r.value().ppl_err, 0);
}

TEST(Perplexity, TooShortTextIsAnError) {
  test::TempDir dir;
  auto model = make_model(dir);
  auto r = perplexity(model, "the", 64);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("fewer than one chunk"), std::string::npos);
}

TEST(Model, QuantizedWeightsStayCloseToF32) {
  test::TempDir dir;
  RandomModelSpec spec;
  auto f32 = make_model(dir, spec);
  spec.weight_type = "Q8_0";
  auto q8 = make_model(dir, spec);
  ASSERT_TRUE(f32 && q8);
  const std::vector<int32_t> ids = f32->tokenize("the garden", true, false);
  auto a = Session::create(f32);
  auto b = Session::create(q8);
  ASSERT_TRUE(a.value()->eval(ids).ok());
  ASSERT_TRUE(b.value()->eval(ids).ok());
  const auto la = copy(a.value()->logits()), lb = copy(b.value()->logits());
  float scale = 0;
  for (float v : la) scale = std::max(scale, std::fabs(v));
  EXPECT_LT(max_abs_diff(la, lb), 0.05f * scale + 1e-3f);
  EXPECT_LT(q8->info().weight_bytes, f32->info().weight_bytes / 3);
}

TEST(Model, TiedEmbeddingsLoadWithoutAnOutputMatrix) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.tied_embeddings = true;
  auto model = make_model(dir, spec);
  ASSERT_TRUE(model);
  auto s = Session::create(model);
  const std::vector<int32_t> ids = {1, 40, 41};
  EXPECT_TRUE(s.value()->eval(ids).ok());
  EXPECT_EQ(s.value()->logits().size(), size_t(spec.n_vocab));
}

TEST(Model, LoadReportsProgressAndCanBeCancelled) {
  test::TempDir dir;
  const std::string path = dir.path("m.gguf");
  ASSERT_TRUE(write_random_model(RandomModelSpec{}, path).ok());
  uint64_t last = 0, total = 0;
  int calls = 0;
  LoadParams lp;
  lp.on_progress = [&](uint64_t done, uint64_t all) {
    EXPECT_GE(done, last);
    last = done;
    total = all;
    ++calls;
    return true;
  };
  auto m = Model::load_file(path, lp);
  ASSERT_TRUE(m.ok());
  EXPECT_GT(calls, 5);
  EXPECT_EQ(last, total);
  EXPECT_EQ(total, m.value()->info().weight_bytes);

  lp.on_progress = [&](uint64_t, uint64_t) { return false; };
  auto cancelled = Model::load_file(path, lp);
  ASSERT_FALSE(cancelled.ok());
  EXPECT_NE(cancelled.message().find("cancelled"), std::string::npos);
}

TEST(Model, TooLargeModelIsRefusedBeforeReading) {
  test::TempDir dir;
  const std::string path = dir.path("m.gguf");
  ASSERT_TRUE(write_random_model(RandomModelSpec{}, path).ok());
  LoadParams lp;
  lp.max_weight_bytes = 1000;
  bool read_any = false;
  lp.on_progress = [&](uint64_t, uint64_t) { return read_any = true; };
  auto m = Model::load_file(path, lp);
  ASSERT_FALSE(m.ok());
  EXPECT_FALSE(read_any);
  EXPECT_NE(m.message().find("needs"), std::string::npos);
}

}  // namespace
}  // namespace kvlite
