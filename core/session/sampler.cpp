#include "session/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvlite {
namespace {

using Candidate = std::pair<float, int32_t>;  // (logit, then probability; token id)

// Higher logit first, lower id on ties: a total order, so sorting gives the
// same list on every platform and greedy picks the lowest id.
bool before(const Candidate& a, const Candidate& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// A uniform double in [0, 1) from the top 53 bits: the same value on every
// platform for the same engine state (std::uniform_real_distribution is not
// specified bit-for-bit).
double uniform01(std::mt19937_64& rng) { return double(rng() >> 11) * 0x1.0p-53; }

// Softmax of logit / temperature over a list sorted by logit, in place.
void softmax(std::vector<Candidate>& c, float temperature) {
  const float top = c.front().first;
  if (std::isinf(top) && top < 0) {  // every logit is -inf: nothing to prefer
    for (Candidate& x : c) x.first = 1.0f / float(c.size());
    return;
  }
  double sum = 0.0;
  for (Candidate& x : c) {
    x.first = std::exp((x.first - top) / temperature);
    sum += x.first;
  }
  for (Candidate& x : c) x.first = float(x.first / sum);
}

// Keeps the smallest prefix whose probability reaches p (at least one token).
void keep_top_p(std::vector<Candidate>& c, float p) {
  if (p >= 1.0f) return;
  double cumulative = 0.0;
  size_t keep = c.size();
  for (size_t i = 0; i < c.size(); ++i) {
    cumulative += c[i].first;
    if (cumulative >= p) {
      keep = i + 1;
      break;
    }
  }
  c.resize(std::max<size_t>(keep, 1));
}

// Drops tokens less likely than min_p times the most likely one.
void keep_min_p(std::vector<Candidate>& c, float min_p) {
  if (min_p <= 0.0f) return;
  const float threshold = min_p * c.front().first;
  size_t keep = 1;
  while (keep < c.size() && c[keep].first >= threshold) ++keep;
  c.resize(keep);
}

// llama.cpp's rule, once per distinct recent token: shrink a positive logit
// by dividing and a negative one by multiplying. candidates is still indexed
// by token id here.
void apply_repeat_penalty(const std::deque<int32_t>& recent, float penalty, std::vector<Candidate>& candidates) {
  if (penalty == 1.0f) return;
  for (size_t i = 0; i < recent.size(); ++i) {
    const int32_t token = recent[i];
    if (token < 0 || size_t(token) >= candidates.size()) continue;
    if (std::find(recent.begin(), recent.begin() + std::ptrdiff_t(i), token) != recent.begin() + std::ptrdiff_t(i)) {
      continue;  // already penalised
    }
    float& logit = candidates[size_t(token)].first;
    logit = logit > 0.0f ? logit / penalty : logit * penalty;
  }
}

// Draws from the kept candidates, whose probabilities need not sum to one.
int32_t draw(const std::vector<Candidate>& candidates, std::mt19937_64& rng) {
  double total = 0.0;
  for (const Candidate& c : candidates) total += c.first;
  const double target = uniform01(rng) * total;
  double cumulative = 0.0;
  for (const Candidate& c : candidates) {
    cumulative += c.first;
    if (target < cumulative) return c.second;
  }
  return candidates.back().second;
}

}  // namespace

Sampler::Sampler(const SamplerParams& params) : params_(params), rng_(params.seed) {}

void Sampler::accept(int32_t token) {
  if (params_.repeat_last_n <= 0) return;
  recent_.push_back(token);
  while (recent_.size() > size_t(params_.repeat_last_n)) recent_.pop_front();
}

void Sampler::reset() {
  recent_.clear();
  rng_.seed(params_.seed);
}

int32_t Sampler::sample(const float* logits, int32_t n_vocab) {
  if (logits == nullptr || n_vocab <= 0) return -1;
  candidates_.resize(size_t(n_vocab));  // allocates only when the vocabulary grows
  for (int32_t id = 0; id < n_vocab; ++id) {
    const float l = logits[id];
    candidates_[size_t(id)] = {std::isnan(l) ? -std::numeric_limits<float>::infinity() : l, id};
  }
  apply_repeat_penalty(recent_, params_.repeat_penalty, candidates_);
  if (params_.temperature <= 0.0f) {
    return std::min_element(candidates_.begin(), candidates_.end(), before)->second;
  }
  const size_t n = candidates_.size();
  const size_t k = params_.top_k > 0 ? std::min(size_t(params_.top_k), n) : n;
  std::partial_sort(candidates_.begin(), candidates_.begin() + std::ptrdiff_t(k), candidates_.end(), before);
  candidates_.resize(k);
  softmax(candidates_, params_.temperature);
  keep_top_p(candidates_, params_.top_p);
  keep_min_p(candidates_, params_.min_p);
  return draw(candidates_, rng_);
}

}  // namespace kvlite
