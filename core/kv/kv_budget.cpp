#include "kv/kv_budget.h"

#include <algorithm>
#include <cmath>

#include "kv/kv_cache.h"

namespace kvlite {

std::vector<int32_t> layer_budgets(int32_t n_layer, int32_t mean, int32_t reserved, KvPyramid pyramid,
                                   const std::vector<double>* entropy_bits) {
  std::vector<int32_t> out(size_t(n_layer), mean);
  const double extra = double(mean - reserved);
  if (extra <= 0 || pyramid == KvPyramid::None || n_layer < 2) return out;
  if (pyramid == KvPyramid::Fixed) {
    // Arithmetic schedule: layer l gets 2 (L - l) / (L + 1) times the mean
    // extra, so the first layer, whose attention is broadest, gets the most.
    for (int32_t l = 0; l < n_layer; ++l) {
      out[size_t(l)] = reserved + int32_t(std::lround(2.0 * extra * (n_layer - l) / (n_layer + 1)));
    }
    return out;
  }
  if (!entropy_bits) return out;
  double total = 0;
  for (double h : *entropy_bits) total += std::max(h, 0.0);
  if (total <= 0) return out;
  // Flat attention (high entropy) needs many tokens; a layer that attends to
  // a few tokens keeps its heavy hitters in a small budget.
  for (int32_t l = 0; l < n_layer; ++l) {
    const double share = double(n_layer) * extra * std::max((*entropy_bits)[size_t(l)], 0.0) / total;
    out[size_t(l)] = reserved + int32_t(std::lround(std::min(share, 2.0 * extra)));
  }
  return out;
}

int32_t max_budget(int32_t mean, int32_t reserved, KvPyramid pyramid) {
  if (pyramid == KvPyramid::None || mean <= reserved) return mean;
  return reserved + 2 * (mean - reserved);
}

// Entropy pyramid: the first time a layer's slots are full, every layer's
// budget is set from the entropy measured so far (the prompt), and layers
// over their new budget drop their lowest-scoring tokens at once.
void KvCache::rebalance_budgets() {
  budgets_rebalanced_ = true;
  std::vector<double> entropy;
  for (const Layer& L : layers_) entropy.push_back(L.stat_count ? L.entropy_sum / double(L.stat_count) : 0.0);
  const std::vector<int32_t> b = layer_budgets(shape_.n_layer, config_.budget, fp_slots(), config_.pyramid, &entropy);
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    L.budget = b[l];
    const int32_t cap = slot_capacity(L);
    for (Head& H : L.heads) {
      while (H.used > cap) {  // drop the lightest, moving the last slot into its place
        const int32_t m = lightest_slot(L, H, H.used);
        const int32_t last = H.used - 1;
        std::copy_n(H.k.begin() + ptrdiff_t(last) * ptrdiff_t(k_bytes_), k_bytes_, H.k.begin() + ptrdiff_t(m) * ptrdiff_t(k_bytes_));
        std::copy_n(H.v.begin() + ptrdiff_t(last) * ptrdiff_t(v_bytes_), v_bytes_, H.v.begin() + ptrdiff_t(m) * ptrdiff_t(v_bytes_));
        H.pos[size_t(m)] = H.pos[size_t(last)];
        H.score[size_t(m)] = H.score[size_t(last)];
        --H.used;
        ++L.evicted;
      }
    }
    resize_slots(L, cap);
  }
}

}  // namespace kvlite
