// Models that parse as GGUF but are not loadable say exactly why: the
// architecture, the missing tensor, the wrong shape, the bad key.
#include <gtest/gtest.h>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "kvlite/kvlite.h"
#include "support/edit_gguf.h"
#include "support/temp_dir.h"

namespace kvlite {
namespace {

// A valid generated model, re-written through `edit` (which may drop or
// change metadata and tensors), then loaded.
class BrokenModel : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(write_random_model(RandomModelSpec{}, dir_.path("good.gguf")).ok()); }

  Result<std::shared_ptr<Model>> load_edited(const test::GgufEdit& edit) {
    const std::string path = dir_.path("edited.gguf");
    EXPECT_TRUE(test::rewrite_gguf(dir_.path("good.gguf"), path, edit).ok());
    return Model::load_file(path);
  }

  test::TempDir dir_;
};

void drop(std::vector<const TensorInfo*>& tensors, const std::string& name) {
  std::erase_if(tensors, [&](const TensorInfo* t) { return t->name == name; });
}

TEST_F(BrokenModel, UnchangedCopyLoads) {
  auto m = load_edited([](GgufWriter&, std::vector<const TensorInfo*>&) {});
  EXPECT_TRUE(m.ok()) << m.message();
}

TEST_F(BrokenModel, UnsupportedArchitectureIsNamed) {
  auto m = load_edited([](GgufWriter& w, auto&) { w.set_string("general.architecture", "mamba"); });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("unsupported model architecture 'mamba'"), std::string::npos) << m.message();
}

TEST_F(BrokenModel, UnsupportedArchitectureMessageListsTheSupportedOnes) {
  auto m = load_edited([](GgufWriter& w, auto&) { w.set_string("general.architecture", "falcon"); });
  ASSERT_FALSE(m.ok());
  for (const char* arch : {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"}) {
    EXPECT_NE(m.message().find(arch), std::string::npos) << m.message();
  }
}

TEST_F(BrokenModel, UnsupportedRopeScalingIsNamed) {
  auto m = load_edited([](GgufWriter& w, auto&) {
    w.set_string("llama.rope.scaling.type", "yarn");
    w.set_f32("llama.rope.scaling.factor", 4.0f);
  });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("'yarn' (llama.rope.scaling.type)"), std::string::npos) << m.message();
}

TEST_F(BrokenModel, PartialRopeIsNamed) {
  auto m = load_edited([](GgufWriter& w, auto&) { w.set_u32("llama.rope.dimension_count", 8); });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("llama.rope.dimension_count"), std::string::npos) << m.message();
}

// Each family's own tensors are required, and a missing one is named.
struct FamilyTensor {
  const char* arch;
  const char* tensor;
};

class FamilyMissingTensor : public ::testing::TestWithParam<FamilyTensor> {};

TEST_P(FamilyMissingTensor, IsNamed) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.architecture = GetParam().arch;
  ASSERT_TRUE(write_random_model(spec, dir.path("good.gguf")).ok());
  ASSERT_TRUE(Model::load_file(dir.path("good.gguf")).ok());
  const std::string name = GetParam().tensor;
  ASSERT_TRUE(test::rewrite_gguf(dir.path("good.gguf"), dir.path("edited.gguf"),
                                 [&](GgufWriter&, auto& tensors) { drop(tensors, name); })
                  .ok());
  auto m = Model::load_file(dir.path("edited.gguf"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("missing tensor '" + name + "'"), std::string::npos) << m.message();
}

INSTANTIATE_TEST_SUITE_P(Families, FamilyMissingTensor,
                         ::testing::Values(FamilyTensor{"qwen2", "blk.0.attn_k.bias"},
                                           FamilyTensor{"qwen3", "blk.1.attn_q_norm.weight"},
                                           FamilyTensor{"phi3", "blk.0.attn_qkv.weight"},
                                           FamilyTensor{"gemma2", "blk.1.post_ffw_norm.weight"},
                                           FamilyTensor{"gemma3", "blk.0.attn_k_norm.weight"}),
                         [](const auto& info) { return std::string(info.param.arch); });

TEST_F(BrokenModel, MissingTensorIsNamed) {
  auto m = load_edited([](GgufWriter&, auto& tensors) { drop(tensors, "blk.1.ffn_up.weight"); });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("missing tensor 'blk.1.ffn_up.weight'"), std::string::npos) << m.message();
}

TEST_F(BrokenModel, MissingHyperparameterIsNamed) {
  auto m = load_edited([](GgufWriter& w, auto&) { w.remove("llama.embedding_length"); });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("llama.embedding_length"), std::string::npos) << m.message();
}

TEST_F(BrokenModel, ShapeThatDisagreesWithTheMetadataIsNamed) {
  // A wider feed-forward in the metadata makes every FFN matrix the wrong shape.
  auto m = load_edited([](GgufWriter& w, auto&) { w.set_u32("llama.feed_forward_length", 192); });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("has shape"), std::string::npos) << m.message();
  EXPECT_NE(m.message().find("ffn_"), std::string::npos) << m.message();
}

TEST_F(BrokenModel, HeadCountsThatDoNotDivideAreRefused) {
  auto m = load_edited([](GgufWriter& w, auto&) { w.set_u32("llama.attention.head_count_kv", 3); });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("head_count"), std::string::npos) << m.message();
}

TEST_F(BrokenModel, MissingVocabularyIsNamed) {
  auto m = load_edited([](GgufWriter& w, auto&) { w.remove("tokenizer.ggml.tokens"); });
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("tokenizer.ggml.tokens"), std::string::npos) << m.message();
}

TEST_F(BrokenModel, TruncatedFileFailsCleanlyAndTheNextLoadWorks) {
  std::vector<uint8_t> bytes;
  {
    auto src = open_file_source(dir_.path("good.gguf"));
    bytes.resize(size_t(src.value()->size()));
    ASSERT_TRUE(src.value()->read(0, bytes.data(), bytes.size()).ok());
  }
  for (size_t keep : {size_t(0), size_t(4), size_t(100), bytes.size() / 2, bytes.size() - 1}) {
    auto src = memory_source(bytes.data(), keep, "truncated");
    auto m = Model::load(*src);
    EXPECT_FALSE(m.ok()) << "kept " << keep;
    EXPECT_NE(m.message().find("truncated"), std::string::npos) << m.message();
  }
  auto src = memory_source(bytes.data(), bytes.size(), "whole");
  EXPECT_TRUE(Model::load(*src).ok());
}

}  // namespace
}  // namespace kvlite
