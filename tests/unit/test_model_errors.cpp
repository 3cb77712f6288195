// Models that parse as GGUF but are not loadable say exactly why: the
// architecture, the missing tensor, the wrong shape, the bad key.
#include <gtest/gtest.h>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "kvlite/kvlite.h"
#include "support/temp_dir.h"

namespace kvlite {
namespace {

// A valid generated model, re-written through `edit` (which may drop or
// change metadata and tensors), then loaded.
class BrokenModel : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(write_random_model(RandomModelSpec{}, dir_.path("good.gguf")).ok()); }

  using Edit = std::function<void(GgufWriter&, std::vector<const TensorInfo*>&)>;

  Result<std::shared_ptr<Model>> load_edited(const Edit& edit) {
    auto src = open_file_source(dir_.path("good.gguf"));
    EXPECT_TRUE(src.ok());
    auto gguf = parse_gguf(*src.value());
    EXPECT_TRUE(gguf.ok());
    GgufWriter w;
    for (const auto& [key, value] : gguf.value().metadata) w.set_value(key, value);
    std::vector<const TensorInfo*> tensors;
    for (const TensorInfo& t : gguf.value().tensors) tensors.push_back(&t);
    edit(w, tensors);
    for (const TensorInfo* t : tensors) {
      std::vector<uint8_t> bytes(size_t(t->n_bytes));
      EXPECT_TRUE(src.value()->read(t->offset, bytes.data(), bytes.size()).ok());
      std::vector<int64_t> dims(t->ne, t->ne + t->n_dims);
      w.add_raw_tensor(t->name, dims, t->raw_type, std::move(bytes));
    }
    const std::string path = dir_.path("edited.gguf");
    EXPECT_TRUE(w.write_file(path).ok());
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
