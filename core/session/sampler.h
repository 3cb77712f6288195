// Picks the next token from logits: repetition penalty, then temperature,
// top-k, top-p and min-p filtering, then a draw from a seeded RNG. A
// temperature of 0 (or below) is greedy: the arg-max, lowest id on ties.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "kvlite/kvlite.h"  // SamplerParams

namespace kvlite {


class Sampler {
 public:
  explicit Sampler(const SamplerParams& params);
  // Chooses a token; does not remember it (call accept).
  int32_t sample(const float* logits, int32_t n_vocab);
  // Records a token (prompt or generated) for the repetition penalty.
  void accept(int32_t token);
  void reset();
  const SamplerParams& params() const { return params_; }

 private:
  SamplerParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> recent_;
  std::vector<std::pair<float, int32_t>> candidates_;  // reused scratch
};

}  // namespace kvlite
