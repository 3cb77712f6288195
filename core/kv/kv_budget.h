// Token budgets per layer: uniform, PyramidKV's fixed schedule that shrinks
// with depth, or shares proportional to each layer's attention entropy.
#pragma once

#include <cstdint>
#include <vector>

#include "kvlite/kvlite.h"

namespace kvlite {

// Budgets (tokens per layer, sinks and window included) whose mean is `mean`.
// Only what lies beyond `reserved` (sinks + window, never evicted) is shared
// out. Entropy needs `entropy_bits` per layer; without it budgets are uniform.
std::vector<int32_t> layer_budgets(int32_t n_layer, int32_t mean, int32_t reserved, KvPyramid pyramid,
                                   const std::vector<double>* entropy_bits);
// The largest budget any layer can get under that pyramid.
int32_t max_budget(int32_t mean, int32_t reserved, KvPyramid pyramid);

}  // namespace kvlite
