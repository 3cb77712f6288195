// The sampler: greedy choice, the filters (top-k, top-p, min-p) and the
// repetition penalty, checked by construction and by drawing many times
// with fixed seeds.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include "session/sampler.h"

// Counts heap allocations so a test can check that sampling allocates
// nothing once warmed up.
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace kvlite {
namespace {

SamplerParams greedy() {
  SamplerParams p;
  p.temperature = 0.0f;
  return p;
}

// Plain sampling at temperature 1: no filter unless a test sets one.
SamplerParams unfiltered(uint64_t seed = 1) {
  SamplerParams p;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = seed;
  return p;
}

// Logits whose softmax at temperature 1 is exactly probs.
std::vector<float> logits_for(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(float(std::log(p)));
  return logits;
}

std::vector<double> frequencies(Sampler& sampler, const std::vector<float>& logits, int draws) {
  std::vector<double> counts(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) {
    const int32_t id = sampler.sample(logits.data(), int32_t(logits.size()));
    EXPECT_GE(id, 0);
    if (id >= 0) counts[size_t(id)] += 1.0 / draws;
  }
  return counts;
}

TEST(Sampler, GreedyPicksTheArgmaxAndTheLowestIdOnTies) {
  Sampler s(greedy());
  const std::vector<float> logits = {1.0f, 5.0f, 3.0f, 5.0f, -2.0f};
  EXPECT_EQ(s.sample(logits.data(), 5), 1);
  const std::vector<float> negative = {-3.0f, -1.0f, -2.0f};
  EXPECT_EQ(s.sample(negative.data(), 3), 1);
  SamplerParams below_zero = greedy();
  below_zero.temperature = -1.0f;
  EXPECT_EQ(Sampler(below_zero).sample(logits.data(), 5), 1);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  const std::vector<float> logits = {0.5f, 2.0f, 1.9f, 2.0f, 1.99f, -4.0f};
  for (float temperature : {0.1f, 1.0f, 5.0f}) {
    SamplerParams p = unfiltered(uint64_t(temperature * 10));
    p.temperature = temperature;
    p.top_k = 1;
    Sampler s(p);
    for (int i = 0; i < 200; ++i) ASSERT_EQ(s.sample(logits.data(), 6), 1);
  }
}

TEST(Sampler, TopKKeepsOnlyTheKBest) {
  SamplerParams p = unfiltered(7);
  p.top_k = 2;
  Sampler s(p);
  const std::vector<double> f = frequencies(s, logits_for({0.1, 0.4, 0.2, 0.3}), 4000);
  EXPECT_EQ(f[0], 0.0);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_NEAR(f[1], 0.4 / 0.7, 0.05);
}

TEST(Sampler, FrequenciesFollowProbabilities) {
  Sampler s(unfiltered(42));
  const std::vector<double> probs = {0.5, 0.3, 0.15, 0.05};
  const std::vector<double> f = frequencies(s, logits_for(probs), 20000);
  for (size_t i = 0; i < probs.size(); ++i) EXPECT_NEAR(f[i], probs[i], 0.02) << i;
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  SamplerParams p = unfiltered(3);
  p.top_p = 0.75f;  // 0.5 < 0.75 <= 0.5 + 0.3: ids 0 and 1 stay
  Sampler s(p);
  const std::vector<double> f = frequencies(s, logits_for({0.5, 0.3, 0.15, 0.05}), 8000);
  EXPECT_EQ(f[2], 0.0);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_NEAR(f[0], 0.5 / 0.8, 0.04);

  p.top_p = 0.1f;  // below the best token's probability: it alone stays
  Sampler tight(p);
  const std::vector<double> g = frequencies(tight, logits_for({0.3, 0.5, 0.2}), 500);
  EXPECT_NEAR(g[1], 1.0, 1e-9);
}

TEST(Sampler, MinPDropsUnlikelyTokens) {
  SamplerParams p = unfiltered(5);
  p.min_p = 0.2f;  // threshold 0.2 * 0.5 = 0.1: only 0.05 goes
  Sampler s(p);
  const std::vector<double> f = frequencies(s, logits_for({0.5, 0.3, 0.15, 0.05}), 8000);
  EXPECT_EQ(f[3], 0.0);
  EXPECT_NEAR(f[2], 0.15 / 0.95, 0.03);
}

TEST(Sampler, LowTemperatureSharpens) {
  SamplerParams p = unfiltered(9);
  p.temperature = 0.25f;  // probabilities go as p^4: 0.6^4 / (0.6^4 + 0.4^4) = 0.835
  Sampler s(p);
  const std::vector<double> f = frequencies(s, logits_for({0.6, 0.4}), 8000);
  EXPECT_NEAR(f[0], 0.835, 0.03);
}

TEST(Sampler, SameSeedSameSequence) {
  const std::vector<float> logits = logits_for({0.2, 0.2, 0.2, 0.2, 0.2});
  auto run = [&](Sampler& s) {
    std::vector<int32_t> ids;
    for (int i = 0; i < 64; ++i) ids.push_back(s.sample(logits.data(), 5));
    return ids;
  };
  Sampler a(unfiltered(123)), b(unfiltered(123)), c(unfiltered(124));
  const std::vector<int32_t> first = run(a);
  EXPECT_EQ(first, run(b));
  EXPECT_NE(first, run(c));
  a.reset();
  EXPECT_EQ(first, run(a));
}

// The draw uses only the engine's bits, so every platform (native, wasm)
// gives these ids for this seed.
TEST(Sampler, DrawsArePortable) {
  Sampler s(unfiltered(2024));
  const std::vector<float> logits = logits_for({0.1, 0.2, 0.3, 0.4});
  std::vector<int32_t> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(s.sample(logits.data(), 4));
  EXPECT_EQ(ids, (std::vector<int32_t>{2, 1, 3, 3, 3, 3, 0, 2, 3, 2, 2, 2}));
}

TEST(Sampler, RepeatPenaltyChangesTheArgmax) {
  SamplerParams p = greedy();
  p.repeat_penalty = 1.1f;
  p.repeat_last_n = 4;
  Sampler s(p);
  const std::vector<float> positive = {2.0f, 1.9f, 0.0f};  // 2.0 / 1.1 = 1.82 < 1.9
  EXPECT_EQ(s.sample(positive.data(), 3), 0);
  s.accept(0);
  EXPECT_EQ(s.sample(positive.data(), 3), 1);
  const std::vector<float> negative = {-1.0f, -1.05f, -3.0f};  // -1.0 * 1.1 = -1.1 < -1.05
  EXPECT_EQ(s.sample(negative.data(), 3), 1);
  // Out of the window again after four newer tokens.
  for (int i = 0; i < 4; ++i) s.accept(2);
  EXPECT_EQ(s.sample(positive.data(), 3), 0);
}

TEST(Sampler, RepeatPenaltyCountsATokenOnce) {
  SamplerParams p = greedy();
  p.repeat_penalty = 1.1f;
  Sampler s(p);
  const std::vector<float> logits = {2.0f, 1.7f};  // once: 1.82 > 1.7; twice would be 1.65
  s.accept(0);
  s.accept(0);
  EXPECT_EQ(s.sample(logits.data(), 2), 0);
  s.reset();
  EXPECT_EQ(s.sample(logits.data(), 2), 0);
}

TEST(Sampler, BadInputDoesNotCrash) {
  Sampler s(unfiltered());
  EXPECT_EQ(s.sample(nullptr, 4), -1);
  const std::vector<float> logits = {NAN, 1.0f, NAN};
  EXPECT_EQ(s.sample(logits.data(), 0), -1);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(s.sample(logits.data(), 3), 1);
  const float all_masked[] = {-INFINITY, -INFINITY};
  const int32_t id = s.sample(all_masked, 2);
  EXPECT_TRUE(id == 0 || id == 1);
  s.accept(-5);
  s.accept(1000);  // ids outside the vocabulary are ignored by the penalty
  EXPECT_GE(s.sample(logits.data(), 3), 0);
}

TEST(Sampler, SamplingAllocatesNothingAfterWarmUp) {
  SamplerParams p = unfiltered(11);
  p.top_k = 40;
  p.top_p = 0.9f;
  p.min_p = 0.05f;
  p.repeat_penalty = 1.2f;
  Sampler s(p);
  std::vector<float> logits(1000);
  for (size_t i = 0; i < logits.size(); ++i) logits[i] = float(std::sin(double(i)) * 4.0);
  s.accept(3);
  s.sample(logits.data(), 1000);
  const long before = g_allocations.load();
  for (int i = 0; i < 100; ++i) s.sample(logits.data(), 1000);
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace kvlite
