// The tokenizer built from the shared stories260K GGUF must reproduce
// llama.cpp's ids for every reference string, and its pieces must spell out
// llama.cpp's greedy continuations.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "format/gguf.h"
#include "support/json.h"
#include "support/paths.h"
#include "tokenizer/tokenizer.h"

namespace kvlite {
namespace {

using test::JsonValue;

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  Result<std::unique_ptr<ByteSource>> source = open_file_source(path);
  EXPECT_TRUE(source.ok()) << source.message();
  if (!source) return nullptr;
  Result<GgufFile> gguf = parse_gguf(**source);
  EXPECT_TRUE(gguf.ok()) << gguf.message();
  if (!gguf) return nullptr;
  Result<Vocab> vocab = read_vocab(*gguf);
  EXPECT_TRUE(vocab.ok()) << vocab.message();
  if (!vocab) return nullptr;
  Result<std::unique_ptr<Tokenizer>> tokenizer = make_tokenizer(std::move(*vocab));
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.message();
  return tokenizer ? std::move(*tokenizer) : nullptr;
}

JsonValue load_json(const std::string& path) {
  Result<std::string> text = test::read_text_file(path);
  EXPECT_TRUE(text.ok()) << text.message();
  if (!text) return {};
  Result<JsonValue> doc = test::parse_json(*text);
  EXPECT_TRUE(doc.ok()) << doc.message();
  return doc ? std::move(*doc) : JsonValue();
}

std::string decode(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, size_t first = 0) {
  std::string text;
  for (size_t i = first; i < ids.size(); ++i) text += tokenizer.piece(ids[i]);
  return text;
}

TEST(TokenizerShared, VocabularyMetadata) {
  KVLITE_REQUIRE_SHARED(model, "models/stories260K.gguf");
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(model);
  ASSERT_TRUE(tokenizer);
  const Vocab& v = tokenizer->vocab();
  EXPECT_EQ(v.model, "llama");
  EXPECT_EQ(tokenizer->n_vocab(), 512);
  EXPECT_EQ(v.bos_id, 1);
  EXPECT_EQ(v.eos_id, 2);
  EXPECT_TRUE(v.add_bos);
  EXPECT_FALSE(v.add_eos);
  EXPECT_TRUE(tokenizer->is_end_of_generation(2));
  EXPECT_EQ(v.scores.size(), v.tokens.size());
  EXPECT_EQ(v.attrs.size(), v.tokens.size());
}

// llama-perplexity tokenizes its input with parse_special=false.
bool is_perplexity_input(const std::string& name) { return name.find("llama-perplexity") != std::string::npos; }

TEST(TokenizerShared, MatchesLlamaCppIds) {
  KVLITE_REQUIRE_SHARED(model, "models/stories260K.gguf");
  KVLITE_REQUIRE_SHARED(reference, "reference/tokenize/stories260K.json");
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(model);
  ASSERT_TRUE(tokenizer);
  const JsonValue records = load_json(reference);
  ASSERT_GE(records.size(), 14u);
  size_t matched = 0;
  for (const JsonValue& record : records.as_array()) {
    const std::string& name = record["name"].as_string();
    const std::string& text = record["text"].as_string();
    const bool parse_special = !is_perplexity_input(name);
    const std::vector<int32_t> ids = tokenizer->encode(text, true, parse_special);
    const std::vector<int32_t> ids_no_bos = tokenizer->encode(text, false, parse_special);
    EXPECT_EQ(ids, record["ids"].as_ints()) << name;
    EXPECT_EQ(ids_no_bos, record["ids_no_bos"].as_ints()) << name;
    matched += ids == record["ids"].as_ints() && ids_no_bos == record["ids_no_bos"].as_ints();
  }
  EXPECT_EQ(matched, records.size());
  std::printf("%zu of %zu reference records match\n", matched, records.size());
}

TEST(TokenizerShared, EvalTextHas7458Ids) {
  KVLITE_REQUIRE_SHARED(model, "models/stories260K.gguf");
  KVLITE_REQUIRE_SHARED(eval, "reference/eval/stories.txt");
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(model);
  ASSERT_TRUE(tokenizer);
  Result<std::string> text = test::read_text_file(eval);
  ASSERT_TRUE(text.ok()) << text.message();
  EXPECT_EQ(tokenizer->encode(*text, true, true).size(), 7458u);
}

TEST(TokenizerShared, PiecesSpellGreedyContinuations) {
  KVLITE_REQUIRE_SHARED(model, "models/stories260K.gguf");
  KVLITE_REQUIRE_SHARED(reference, "reference/greedy/stories260K.json");
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(model);
  ASSERT_TRUE(tokenizer);
  const JsonValue records = load_json(reference);
  ASSERT_GT(records.size(), 0u);
  for (const JsonValue& record : records.as_array()) {
    const std::string& prompt = record["prompt"].as_string();
    const std::vector<int32_t> prompt_ids = record["prompt_ids"].as_ints();
    EXPECT_EQ(tokenizer->encode(prompt, true, true), prompt_ids) << prompt;
    // llama.cpp echoes the prompt without BOS, keeping the dummy-prefix space.
    EXPECT_EQ(decode(*tokenizer, prompt_ids, 1), record["echo"].as_string()) << prompt;
    EXPECT_EQ(decode(*tokenizer, record["generated_ids"].as_ints()), record["continuation"].as_string()) << prompt;
  }
}

// The JSON reader these checks (and other reference checks) rely on.
TEST(JsonReader, ParsesTheShapesOfTheReferenceFiles) {
  Result<JsonValue> doc = test::parse_json(
      R"( [{"name": "a\tb", "ids": [1, -2, 3.5e1], "ok": true, "none": null, "nested": {"x": []}},
           "\u00e9\ud83d\ude42\"\\\/\b\f\n\r", false, 0.25, -0] )");
  ASSERT_TRUE(doc.ok()) << doc.message();
  const JsonValue& v = *doc;
  ASSERT_TRUE(v.is_array());
  EXPECT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0]["name"].as_string(), "a\tb");
  EXPECT_EQ(v[0]["ids"].as_ints(), (std::vector<int32_t>{1, -2, 35}));
  EXPECT_TRUE(v[0]["ok"].as_bool());
  EXPECT_TRUE(v[0]["none"].is_null());
  EXPECT_TRUE(v[0].contains("none"));
  EXPECT_FALSE(v[0].contains("missing"));
  EXPECT_TRUE(v[0]["nested"]["x"].is_array());
  EXPECT_EQ(v[1].as_string(), "\xC3\xA9\xF0\x9F\x99\x82\"\\/\b\f\n\r");
  EXPECT_TRUE(v[2].is_bool());
  EXPECT_EQ(v[3].as_number(), 0.25);
  // Missing keys, wrong kinds and out-of-range indexes read as empty values.
  EXPECT_TRUE(v[0]["missing"]["deeper"].is_null());
  EXPECT_TRUE(v[99].is_null());
  EXPECT_EQ(v[3].as_string(), "");
  EXPECT_EQ(v[0]["name"].size(), 0u);
}

TEST(JsonReader, ErrorsSayWhereTheProblemIs) {
  for (const char* bad : {"", "[1, 2", "{\"a\" 1}", "[01]", "\"\\ud800\"", "\"tab\there\"", "[1] x", "tru"}) {
    Result<JsonValue> doc = test::parse_json(bad);
    ASSERT_FALSE(doc.ok()) << bad;
    EXPECT_NE(doc.message().find("at byte"), std::string::npos) << doc.message();
  }
  Result<std::string> missing = test::read_text_file("/nonexistent/file.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("/nonexistent/file.json"), std::string::npos);
}

}  // namespace
}  // namespace kvlite
