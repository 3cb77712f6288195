// TokenStream must give exactly Session::generate's tokens (greedy and
// sampled), stop where generate stops, and leave the session ready to continue.
#include <gtest/gtest.h>

#include "kvlite/kvlite.h"
#include "support/temp_dir.h"

namespace kvlite {
namespace {

std::shared_ptr<Model> make_model(test::TempDir& dir) {
  const std::string path = dir.path("model.gguf");
  Status st = write_random_model(RandomModelSpec{}, path);
  EXPECT_TRUE(st.ok()) << st.message();
  auto model = Model::load_file(path);
  EXPECT_TRUE(model.ok()) << model.message();
  return model.ok() ? model.value() : nullptr;
}

struct Output {
  std::vector<int32_t> ids;
  std::string text;
};

Output with_generate(std::shared_ptr<Model> model, const SamplerParams& sp, int32_t n) {
  auto session = Session::create(model);
  Output run;
  auto stats = session.value()->generate("the cat", n, sp, [&](std::string_view piece, int32_t id) {
    if (id >= 0) run.ids.push_back(id);
    run.text += piece;
    return true;
  });
  EXPECT_TRUE(stats.ok()) << stats.message();
  return run;
}

Output with_stream(std::shared_ptr<Model> model, const SamplerParams& sp, int32_t n) {
  auto session = Session::create(model);
  auto stream = TokenStream::start(*session.value(), "the cat", n, sp);
  EXPECT_TRUE(stream.ok()) << stream.message();
  Output run;
  for (int guard = 0; guard < n + 2; ++guard) {
    auto step = stream.value()->next();
    EXPECT_TRUE(step.ok()) << step.message();
    if (step->id >= 0) run.ids.push_back(step->id);
    run.text += step->piece;
    if (step->done) break;
  }
  return run;
}

TEST(TokenStream, SameTokensAsGenerate) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  std::vector<SamplerParams> params(1);
  params[0].temperature = 0;  // greedy; a random model may well pick EOS at once
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    SamplerParams sampled;
    sampled.seed = seed;
    sampled.temperature = 1.5f;
    sampled.top_k = 0;
    sampled.min_p = 0;
    params.push_back(sampled);
  }
  size_t tokens = 0;
  for (const SamplerParams& sp : params) {
    const Output a = with_generate(model, sp, 24);
    const Output b = with_stream(model, sp, 24);
    EXPECT_EQ(a.ids, b.ids) << "seed " << sp.seed;
    EXPECT_EQ(a.text, b.text) << "seed " << sp.seed;
    tokens += a.ids.size();
  }
  EXPECT_GT(tokens, 20u) << "the runs should produce tokens to compare";
}

TEST(TokenStream, StopsAtMaxTokensAndContinuesTheSession) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  auto session = Session::create(model);
  SamplerParams sp;
  sp.temperature = 0;
  auto stream = TokenStream::start(*session.value(), "the cat", 3, sp);
  ASSERT_TRUE(stream.ok());
  int emitted = 0;
  for (;;) {
    auto step = stream.value()->next();
    ASSERT_TRUE(step.ok());
    if (step->id >= 0) ++emitted;
    if (step->done) break;
  }
  EXPECT_LE(emitted, 3);
  EXPECT_EQ(stream.value()->stats().generated_tokens, emitted);
  // Every emitted token is already in the cache: prompt + emitted positions.
  EXPECT_EQ(session.value()->n_past(), stream.value()->stats().prompt_tokens + emitted);
  auto again = stream.value()->next();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->done);
  auto follow = TokenStream::start(*session.value(), " and", 2, sp);
  EXPECT_TRUE(follow.ok()) << follow.message();
}

TEST(TokenStream, RejectsEmptyPrompt) {
  test::TempDir dir;
  auto model = make_model(dir);
  ASSERT_TRUE(model);
  auto session = Session::create(model);
  EXPECT_FALSE(TokenStream::start(*session.value(), "", 4, {}).ok());
}

}  // namespace
}  // namespace kvlite
