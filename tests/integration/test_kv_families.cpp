// The compressed KV cache on every architecture: on each synthetic
// conformance model (grouped-query attention, head dims 32 and 64, gemma2's
// soft-capped scores, gemma3's 32-token sliding-window layer) and on
// generated multi-head models with head dims 64 and 128, perplexity through
// 4-bit keys and values, with and without H2O eviction, stays near the
// FP32 cache's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "kvlite/kvlite.h"
#include "support/json.h"
#include "support/paths.h"
#include "support/temp_dir.h"

namespace kvlite {
namespace {

struct Setting {
  const char* name;
  KvConfig kv;
  double max_change;  // allowed relative perplexity change against the FP32 cache
};

// Bounds sit above what every model here measures (see the printed table:
// the window moves perplexity by at most 3.4%, eviction by at most 6.3%) and
// well below what a wrong window mask, transform or position order does.
std::vector<Setting> settings() {
  KvConfig q4;
  q4.k_type = q4.v_type = KvType::Q4;
  q4.window = 16;
  KvConfig h2o = q4;
  h2o.eviction = KvEviction::H2O;
  h2o.budget = 64;
  return {{"k4v4-w16", q4, 0.05}, {"k4v4-w16-h2o64", h2o, 0.10}};
}

void check_settings(const std::shared_ptr<Model>& model, const std::string& text, int32_t n_ctx,
                    const std::string& label) {
  auto plain = perplexity(model, text, n_ctx);
  ASSERT_TRUE(plain.ok()) << plain.message();
  for (const Setting& s : settings()) {
    auto r = perplexity(model, text, n_ctx, s.kv, {}, {});
    ASSERT_TRUE(r.ok()) << s.name << ": " << r.message();
    const double change = r.value().ppl / plain.value().ppl - 1.0;
    std::printf("%-16s %-15s PPL %9.3f vs FP32 cache %9.3f (%+.2f%%)\n", label.c_str(), s.name, r.value().ppl,
                plain.value().ppl, 100.0 * change);
    EXPECT_LT(std::fabs(change), s.max_change) << label << " " << s.name;
  }
}

class KvOnSyntheticModels : public ::testing::TestWithParam<std::string> {};

TEST_P(KvOnSyntheticModels, CompressedPerplexityStaysNearFp32) {
  KVLITE_REQUIRE_SHARED(model_path, "reference/synthetic/synth-" + GetParam() + "-F32.gguf");
  KVLITE_REQUIRE_SHARED(text_path, "reference/eval/stories.txt");
  auto model = Model::load_file(model_path);
  ASSERT_TRUE(model.ok()) << model.message();
  auto text = test::read_text_file(text_path);
  ASSERT_TRUE(text.ok());
  // The first 12,000 characters (23 chunks of 128 tokens): evaluation
  // through the compressed cache is slow under node.
  check_settings(model.value(), text.value().substr(0, 12000), 128, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Shared, KvOnSyntheticModels,
                         ::testing::Values("llama", "mistral", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"),
                         [](const auto& info) { return info.param; });

// Shapes no synthetic file has: multi-head attention, head dims 64 and 128.
struct Shape {
  const char* arch;
  int32_t n_embd, n_head, n_head_kv, sliding_window;
};

class KvOnGeneratedShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(KvOnGeneratedShapes, CompressedPerplexityStaysNearFp32) {
  const Shape& shape = GetParam();
  test::TempDir dir;
  RandomModelSpec spec;
  spec.architecture = shape.arch;
  spec.n_embd = shape.n_embd;
  spec.n_head = shape.n_head;
  spec.n_head_kv = shape.n_head_kv;
  spec.n_ff = 2 * shape.n_embd;
  spec.sliding_window = shape.sliding_window;
  ASSERT_TRUE(write_random_model(spec, dir.path("m.gguf")).ok());
  auto model = Model::load_file(dir.path("m.gguf"));
  ASSERT_TRUE(model.ok()) << model.message();
  std::string text;
  for (int i = 0; i < 40; ++i) text += "the ant ran on a tin hen and the heron ate an inert net ";
  check_settings(model.value(), text, 128,
                 std::string(shape.arch) + " hd" + std::to_string(shape.n_embd / shape.n_head));
}

INSTANTIATE_TEST_SUITE_P(Generated, KvOnGeneratedShapes,
                         ::testing::Values(Shape{"llama", 128, 2, 2, 0}, Shape{"qwen2", 256, 2, 2, 0},
                                           Shape{"gemma3", 256, 2, 1, 24}, Shape{"phi3", 256, 4, 4, 0}),
                         [](const auto& info) {
                           return std::string(info.param.arch) + "_hd" +
                                  std::to_string(info.param.n_embd / info.param.n_head) +
                                  (info.param.n_head == info.param.n_head_kv ? "_mha" : "_gqa");
                         });

}  // namespace
}  // namespace kvlite
