// The reader on real files written by llama.cpp: the shared stories models
// and every synthetic conformance model, checked against the facts their
// READMEs and results.json state.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "support/json.h"
#include "support/paths.h"

namespace kvlite {
namespace {

Result<GgufFile> parse_path(const std::string& path) {
  auto src = open_file_source(path);
  if (!src.ok()) return src.status();
  return parse_gguf(**src);
}

std::map<std::string, int> count_types(const GgufFile& f) {
  std::map<std::string, int> counts;
  for (const TensorInfo& t : f.tensors) ++counts[t.traits->name];
  return counts;
}

// llama.cpp lays tensors out back to back, each padded to the alignment: if
// our byte size of any type differed from ggml's, the next offset would not
// match. This checks the type table's block sizes as much as the reader.
void expect_packed_layout(const GgufFile& f, uint64_t file_size) {
  ASSERT_FALSE(f.tensors.empty());
  std::vector<const TensorInfo*> order;
  for (const TensorInfo& t : f.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  EXPECT_EQ(order.front()->offset, f.data_offset);
  auto align_up = [&](uint64_t x) { return (x + f.alignment - 1) / f.alignment * f.alignment; };
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_EQ(order[i]->offset, align_up(order[i - 1]->offset + order[i - 1]->n_bytes))
        << order[i - 1]->name << " (" << order[i - 1]->traits->name << ") -> " << order[i]->name;
  }
  const TensorInfo& last = *order.back();
  EXPECT_LE(last.offset + last.n_bytes, file_size);
  EXPECT_EQ(align_up(last.offset + last.n_bytes), align_up(file_size)) << "bytes after the last tensor";
}

void expect_stories_metadata(const GgufFile& f) {
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f.get_int("llama.block_count").value(), 5);
  EXPECT_EQ(f.get_int("llama.embedding_length").value(), 64);
  EXPECT_EQ(f.get_int("llama.feed_forward_length").value(), 172);
  EXPECT_EQ(f.get_int("llama.attention.head_count").value(), 8);
  EXPECT_EQ(f.get_int("llama.attention.head_count_kv").value(), 4);
  EXPECT_EQ(f.get_int("llama.context_length").value(), 2048);
  EXPECT_NEAR(f.get_float("llama.attention.layer_norm_rms_epsilon").value(), 1e-5, 1e-12);
  EXPECT_EQ(f.get_string("tokenizer.ggml.model").value(), "llama");
  EXPECT_EQ(f.get_int("tokenizer.ggml.bos_token_id").value(), 1);
  EXPECT_EQ(f.get_int("tokenizer.ggml.eos_token_id").value(), 2);
  const GgufArray* tokens = f.get_array("tokenizer.ggml.tokens").value();
  ASSERT_EQ(tokens->elem_type, GgufValueType::STRING);
  ASSERT_EQ(tokens->size(), 512u);
  EXPECT_EQ(tokens->strings[1], "<s>");
  EXPECT_EQ(f.get_array("tokenizer.ggml.scores").value()->floats.size(), 512u);
  EXPECT_EQ(f.get_array("tokenizer.ggml.token_type").value()->ints.size(), 512u);
  ASSERT_EQ(f.tensors.size(), 3u + 9u * 5u);
  const TensorInfo* embd = f.find_tensor("token_embd.weight");
  ASSERT_NE(embd, nullptr);
  EXPECT_EQ(embd->n_dims, 2u);
  EXPECT_EQ(embd->ne[0], 64);
  EXPECT_EQ(embd->ne[1], 512);
  ASSERT_NE(f.find_tensor("output.weight"), nullptr);  // stored separately
  const TensorInfo* down = f.find_tensor("blk.4.ffn_down.weight");
  ASSERT_NE(down, nullptr);
  EXPECT_EQ(down->ne[0], 172);
  EXPECT_EQ(down->ne[1], 64);
}

TEST(GgufShared, StoriesF32) {
  KVLITE_REQUIRE_SHARED(path, "models/stories260K.gguf");
  auto r = parse_path(path);
  ASSERT_TRUE(r.ok()) << r.message();
  expect_stories_metadata(*r);
  EXPECT_EQ(count_types(*r), (std::map<std::string, int>{{"F32", 48}}));
  EXPECT_EQ(r->find_tensor("token_embd.weight")->n_bytes, 64u * 512u * 4u);
  expect_packed_layout(*r, std::filesystem::file_size(path));
}

TEST(GgufShared, StoriesQ8_0IsMixedType) {
  KVLITE_REQUIRE_SHARED(path, "models/stories260K-q8_0.gguf");
  auto r = parse_path(path);
  ASSERT_TRUE(r.ok()) << r.message();
  expect_stories_metadata(*r);
  // Q8_0 where rows divide by 32, F16 for ffn_down (rows of 172), F32 norms.
  EXPECT_EQ(count_types(*r), (std::map<std::string, int>{{"Q8_0", 32}, {"F16", 5}, {"F32", 11}}));
  EXPECT_EQ(r->find_tensor("blk.0.ffn_down.weight")->traits->type, TensorType::F16);
  EXPECT_EQ(r->find_tensor("blk.0.attn_norm.weight")->traits->type, TensorType::F32);
  const TensorInfo* embd = r->find_tensor("token_embd.weight");
  EXPECT_EQ(embd->traits->type, TensorType::Q8_0);
  EXPECT_EQ(embd->n_bytes, 512u * 2u * 34u);
  expect_packed_layout(*r, std::filesystem::file_size(path));
}

TEST(GgufShared, EverySyntheticModelMatchesResultsJson) {
  KVLITE_REQUIRE_SHARED(dir, "reference/synthetic");
  auto text = test::read_text_file(dir + "/results.json");
  ASSERT_TRUE(text.ok()) << text.message();
  auto doc = test::parse_json(*text);
  ASSERT_TRUE(doc.ok()) << doc.message();

  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".gguf") on_disk.insert(entry.path().filename().string());
  }
  std::set<std::string> listed;
  for (const test::JsonValue& record : doc->as_array()) {
    const std::string file = record["file"].as_string();
    listed.insert(file);
    SCOPED_TRACE(file);
    const std::string path = dir + "/" + file;
    auto r = parse_path(path);
    ASSERT_TRUE(r.ok()) << r.message();
    const GgufFile& f = *r;
    EXPECT_EQ(uint64_t(record["bytes"].as_int()), std::filesystem::file_size(path));
    const std::string arch = f.get_string("general.architecture").value();
    EXPECT_EQ(arch, record["arch"].as_string());
    EXPECT_EQ(f.get_int(arch + ".block_count").value(), 2);
    EXPECT_EQ(f.get_int(arch + ".embedding_length").value(), 256);
    EXPECT_EQ(f.get_array("tokenizer.ggml.tokens").value()->size(), 512u);
    std::map<std::string, int> expected;
    for (const auto& [type, count] : record["tensor_types"].as_object()) expected[type] = int(count.as_int());
    EXPECT_EQ(count_types(f), expected);
    const TensorInfo* embd = f.find_tensor("token_embd.weight");
    ASSERT_NE(embd, nullptr);
    EXPECT_EQ(embd->ne[0], 256);
    EXPECT_EQ(embd->ne[1], 512);
    expect_packed_layout(f, std::filesystem::file_size(path));
  }
  EXPECT_EQ(listed, on_disk);
  EXPECT_EQ(listed.size(), 26u);
}

}  // namespace
}  // namespace kvlite
