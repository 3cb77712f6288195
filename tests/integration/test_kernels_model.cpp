// Whole-model greedy output with the SIMD kernels equals the scalar kernels'
// on the shared models: natively AVX2 against scalar, and (the same file built
// to wasm and run under node) SIMD128 against scalar inside WebAssembly. The
// scalar path is itself checked against llama.cpp in test_model_shared.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "kernels/kernel_set.h"
#include "kvlite/kvlite.h"
#include "support/json.h"
#include "support/paths.h"

namespace kvlite {
namespace {

struct Greedy {
  std::vector<int32_t> ids;
  std::vector<float> margins;  // top-1 minus top-2 logit at each step
};

Greedy greedy(const std::shared_ptr<Model>& model, const std::vector<int32_t>& prompt, int n, int32_t threads) {
  SessionParams sp;
  sp.threads = threads;
  auto s = Session::create(model, sp);
  EXPECT_TRUE(s.ok());
  Greedy g;
  EXPECT_TRUE(s.value()->eval(prompt).ok());
  for (int i = 0; i < n; ++i) {
    const auto logits = s.value()->logits();
    const int32_t id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    float second = -1e30f;
    for (size_t j = 0; j < logits.size(); ++j) {
      if (int32_t(j) != id) second = std::max(second, logits[j]);
    }
    g.ids.push_back(id);
    g.margins.push_back(logits[size_t(id)] - second);
    EXPECT_TRUE(s.value()->eval(std::span<const int32_t>(&id, 1)).ok());
  }
  return g;
}

class SimdGreedy : public ::testing::TestWithParam<std::string> {};

// Identical ids up to the first step where the scalar run's top two logits
// are within 1e-3 (a tie that float rounding may legitimately break either way).
TEST_P(SimdGreedy, SameIdsAsScalarKernels) {
  if (available_kernel_sets().size() < 2) GTEST_SKIP() << "no SIMD kernel set on this machine";
  KVLITE_REQUIRE_SHARED(model_path, "models/" + GetParam() + ".gguf");
  KVLITE_REQUIRE_SHARED(ref_path, "reference/greedy/" + GetParam() + ".json");
  auto model = Model::load_file(model_path);
  ASSERT_TRUE(model.ok()) << model.message();
  auto text = test::read_text_file(ref_path);
  ASSERT_TRUE(text.ok());
  auto doc = test::parse_json(text.value());
  ASSERT_TRUE(doc.ok());
  const KernelSet& simd = active_kernels();
  size_t compared = 0;
  for (const test::JsonValue& r : doc.value().as_array()) {
    const std::vector<int32_t> prompt = r["prompt_ids"].as_ints();
    use_kernels(scalar_kernels());
    const Greedy ref = greedy(model.value(), prompt, 32, 1);
    use_kernels(simd);
    const Greedy got = greedy(model.value(), prompt, 32, 2);
    for (size_t i = 0; i < ref.ids.size(); ++i) {
      if (ref.margins[i] < 1e-3f) break;
      ASSERT_EQ(got.ids[i], ref.ids[i]) << simd.name << " prompt '" << r["prompt"].as_string() << "' step " << i;
      ++compared;
    }
  }
  EXPECT_GE(compared, 100u);
}

INSTANTIATE_TEST_SUITE_P(Shared, SimdGreedy, ::testing::Values("stories260K", "stories260K-q8_0"),
                         [](const auto& info) { return info.param == "stories260K" ? "F32" : "Q8_0"; });

}  // namespace
}  // namespace kvlite
