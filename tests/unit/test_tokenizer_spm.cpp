// SentencePiece-style tokenizer on a hand-built vocabulary, with every
// expectation worked out by hand from the merge rule (highest score first,
// leftmost on ties) and llama.cpp's dummy-prefix and byte-fallback rules.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace kvlite {
namespace {

using Ids = std::vector<int32_t>;

constexpr int32_t kUnk = 0, kBos = 1, kEos = 2;
int32_t byte_id(uint8_t b) { return 3 + b; }  // <0x00> .. <0xFF> follow the control tokens

// Normal tokens after the byte tokens, with their scores.
enum : int32_t {
  kSpace = 259,  // "▁"
  kA, kB, kC, kAB, kBC, kSpaceA, kAA, kSpaceB, kEAcute, kUser,
};

Vocab make_vocab() {
  Vocab v;
  v.model = "llama";
  auto add = [&](std::string text, float score, TokenAttr attr) {
    v.tokens.push_back(std::move(text));
    v.scores.push_back(score);
    v.attrs.push_back(attr);
  };
  add("<unk>", 0, TokenAttr::Unknown);
  add("<s>", 0, TokenAttr::Control);
  add("</s>", 0, TokenAttr::Control);
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    add(name, 0, TokenAttr::Byte);
  }
  add("\xE2\x96\x81", -1.0f, TokenAttr::Normal);          // kSpace
  add("a", -2.0f, TokenAttr::Normal);                     // kA
  add("b", -2.0f, TokenAttr::Normal);                     // kB
  add("c", -2.0f, TokenAttr::Normal);                     // kC
  add("ab", -3.0f, TokenAttr::Normal);                    // kAB
  add("bc", -0.5f, TokenAttr::Normal);                    // kBC: beats "ab"
  add("\xE2\x96\x81" "a", -4.0f, TokenAttr::Normal);      // kSpaceA
  add("aa", -1.5f, TokenAttr::Normal);                    // kAA
  add("\xE2\x96\x81" "b", -0.2f, TokenAttr::Normal);      // kSpaceB
  add("\xC3\xA9", -2.0f, TokenAttr::Normal);              // kEAcute: "é"
  add("<u>", 0, TokenAttr::UserDefined);                  // kUser
  v.bos_id = kBos;
  v.eos_id = kEos;
  v.unk_id = kUnk;
  v.add_bos = true;
  v.add_space_prefix = true;
  return v;
}

std::unique_ptr<Tokenizer> make(Vocab v = make_vocab()) {
  Result<std::unique_ptr<Tokenizer>> t = make_tokenizer(std::move(v));
  EXPECT_TRUE(t.ok()) << t.message();
  return t ? std::move(*t) : nullptr;
}

std::unique_ptr<Tokenizer> make_without_prefix() {
  Vocab v = make_vocab();
  v.add_space_prefix = false;
  return make(std::move(v));
}

std::string decode(const Tokenizer& t, const Ids& ids, bool render_special = false) {
  std::string s;
  for (int32_t id : ids) s += t.piece(id, render_special);
  return s;
}

TEST(TokenizerSpm, HighestScoreMergesFirst) {
  auto t = make_without_prefix();
  // "ab" (-3) and "bc" (-0.5) compete for the 'b': "bc" wins, "abc" is no token.
  EXPECT_EQ(t->encode("abc", false, false), (Ids{kA, kBC}));
  EXPECT_EQ(t->encode("ab", false, false), (Ids{kAB}));
}

TEST(TokenizerSpm, EqualScoresMergeLeftmostFirst) {
  auto t = make_without_prefix();
  EXPECT_EQ(t->encode("aaa", false, false), (Ids{kAA, kA}));
  EXPECT_EQ(t->encode("aaaa", false, false), (Ids{kAA, kAA}));
}

TEST(TokenizerSpm, DummyPrefixAndSpaces) {
  auto t = make();
  // "▁a▁b": "▁b" (-0.2) merges before "▁a" (-4).
  EXPECT_EQ(t->encode("a b", false, false), (Ids{kSpaceA, kSpaceB}));
  // "▁a▁▁b": the middle "▁" has no partner.
  EXPECT_EQ(t->encode("a  b", false, false), (Ids{kSpaceA, kSpace, kSpaceB}));
  EXPECT_EQ(t->encode(" ", false, false), (Ids{kSpace, kSpace}));
  EXPECT_EQ(make_without_prefix()->encode("a b", false, false), (Ids{kA, kSpaceB}));
}

TEST(TokenizerSpm, EmptyText) {
  auto t = make();
  EXPECT_EQ(t->encode("", true, true), (Ids{kBos}));
  EXPECT_EQ(t->encode("", false, true), Ids{});
}

TEST(TokenizerSpm, BosAndEosFollowTheVocabulary) {
  EXPECT_EQ(make()->encode("a", true, false), (Ids{kBos, kSpaceA}));
  Vocab v = make_vocab();
  v.add_bos = false;
  v.add_eos = true;
  EXPECT_EQ(make(std::move(v))->encode("a", true, false), (Ids{kSpaceA, kEos}));
}

TEST(TokenizerSpm, UnknownCharactersBecomeByteTokens) {
  auto t = make();
  // 'd' has no token: one byte.
  EXPECT_EQ(t->encode("ad", false, false), (Ids{kSpaceA, byte_id('d')}));
  // "ö" is two bytes, "🙂" four; "é" is a token of its own.
  EXPECT_EQ(t->encode("\xC3\xB6", false, false), (Ids{kSpace, byte_id(0xC3), byte_id(0xB6)}));
  EXPECT_EQ(t->encode("\xF0\x9F\x99\x82", false, false),
            (Ids{kSpace, byte_id(0xF0), byte_id(0x9F), byte_id(0x99), byte_id(0x82)}));
  EXPECT_EQ(t->encode("\xC3\xA9", false, false), (Ids{kSpace, kEAcute}));
  // Tab and newline, as in llama.cpp's stories260K reference.
  EXPECT_EQ(t->encode("\t\n", false, false), (Ids{kSpace, byte_id('\t'), byte_id('\n')}));
}

TEST(TokenizerSpm, InvalidUtf8KeepsItsBytes) {
  auto t = make_without_prefix();
  // A lone continuation byte, and a lead byte cut short at the end.
  EXPECT_EQ(t->encode("a\xA9" "b\xE2\x96", false, false),
            (Ids{kA, byte_id(0xA9), kB, byte_id(0xE2), byte_id(0x96)}));
}

TEST(TokenizerSpm, SpecialTokenText) {
  auto t = make();
  // Text after a special token gets the dummy prefix again.
  EXPECT_EQ(t->encode("<s>a</s>", true, true), (Ids{kBos, kBos, kSpaceA, kEos}));
  EXPECT_EQ(t->encode("b<s>a", false, true), (Ids{kSpaceB, kBos, kSpaceA}));
  // Without parse_special the characters are tokenized: '<' 's' '>' have no tokens.
  EXPECT_EQ(t->encode("<s>a", false, false),
            (Ids{kSpace, byte_id('<'), byte_id('s'), byte_id('>'), kA}));
  // User-defined tokens are split out either way.
  EXPECT_EQ(t->encode("a<u>", false, false), (Ids{kSpaceA, kUser}));
}

TEST(TokenizerSpm, Pieces) {
  auto t = make();
  EXPECT_EQ(t->piece(kSpace), " ");
  EXPECT_EQ(t->piece(kSpaceA), " a");
  EXPECT_EQ(t->piece(byte_id(0xC3)), "\xC3");
  EXPECT_EQ(t->piece(byte_id('\n')), "\n");
  EXPECT_EQ(t->piece(kBos), "");
  EXPECT_EQ(t->piece(kBos, true), "<s>");
  EXPECT_EQ(t->piece(kUser), "<u>");
  EXPECT_EQ(t->piece(-1), "");
  EXPECT_EQ(t->piece(t->n_vocab()), "");
}

TEST(TokenizerSpm, PiecesRoundTrip) {
  auto t = make();
  for (const std::string text : {"abc aa  b", "caf\xC3\xA9 \xC3\xB6\tx\n", "\xF0\x9F\x99\x82 ba"}) {
    EXPECT_EQ(decode(*t, t->encode(text, false, false)), " " + text) << text;
    EXPECT_EQ(decode(*t, t->encode(text, true, false)), " " + text) << text;
  }
  EXPECT_EQ(decode(*t, t->encode("<s>ab</s>", true, true), true), "<s><s> ab</s>");
}

TEST(TokenizerSpm, MakeTokenizerRejectsBadVocabularies) {
  Vocab v = make_vocab();
  v.model = "wordpiece";
  Result<std::unique_ptr<Tokenizer>> t = make_tokenizer(std::move(v));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("tokenizer.ggml.model"), std::string::npos) << t.message();

  Vocab short_scores = make_vocab();
  short_scores.scores.pop_back();
  t = make_tokenizer(std::move(short_scores));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("tokenizer.ggml.scores"), std::string::npos) << t.message();
}

// read_vocab on small GGUF files written in memory.
GgufWriter spm_gguf() {
  const Vocab v = make_vocab();
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", v.tokens);
  w.set_f32_array("tokenizer.ggml.scores", v.scores);
  std::vector<int32_t> types;
  for (TokenAttr a : v.attrs) types.push_back(int32_t(a));
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", kBos);
  w.set_u32("tokenizer.ggml.eos_token_id", kEos);
  w.set_u32("tokenizer.ggml.unknown_token_id", kUnk);
  w.set_u32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);  // "none", as converters write it
  return w;
}

Result<Vocab> vocab_from(const GgufWriter& w) {
  const std::vector<uint8_t> bytes = w.write_buffer();
  std::unique_ptr<ByteSource> source = memory_source(bytes.data(), bytes.size(), "test.gguf");
  Result<GgufFile> file = parse_gguf(*source);
  if (!file) return file.status();
  return read_vocab(*file);
}

void expect_error_names(const GgufWriter& w, const std::string& key) {
  Result<Vocab> v = vocab_from(w);
  ASSERT_FALSE(v.ok()) << key;
  EXPECT_NE(v.message().find(key), std::string::npos) << v.message();
}

TEST(ReadVocab, ReadsTheSpmMetadataWithDefaults) {
  Result<Vocab> v = vocab_from(spm_gguf());
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(v->model, "llama");
  EXPECT_EQ(v->tokens, make_vocab().tokens);
  EXPECT_EQ(v->scores, make_vocab().scores);
  EXPECT_EQ(v->attrs, make_vocab().attrs);
  EXPECT_EQ(v->bos_id, kBos);
  EXPECT_EQ(v->eos_id, kEos);
  EXPECT_EQ(v->unk_id, kUnk);
  EXPECT_EQ(v->pad_id, -1);
  EXPECT_EQ(v->eot_id, -1);
  EXPECT_TRUE(v->add_bos);  // llama.cpp's default for SentencePiece
  EXPECT_FALSE(v->add_eos);
  EXPECT_TRUE(v->add_space_prefix);
  auto t = make(std::move(*v));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("<s>a b", true, true), (Ids{kBos, kBos, kSpaceA, kSpaceB}));
}

TEST(ReadVocab, FlagsAndTemplateFromTheFile) {
  GgufWriter w = spm_gguf();
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  w.set_bool("tokenizer.ggml.add_eos_token", true);
  w.set_bool("tokenizer.ggml.add_space_prefix", false);
  w.set_string("tokenizer.chat_template", "{{ messages }}");
  Result<Vocab> v = vocab_from(w);
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_FALSE(v->add_bos);
  EXPECT_TRUE(v->add_eos);
  EXPECT_FALSE(v->add_space_prefix);
  EXPECT_EQ(v->chat_template, "{{ messages }}");
}

TEST(ReadVocab, ErrorsNameTheKey) {
  GgufWriter w = spm_gguf();
  w.remove("tokenizer.ggml.model");
  expect_error_names(w, "tokenizer.ggml.model");

  w = spm_gguf();
  w.remove("tokenizer.ggml.tokens");
  expect_error_names(w, "tokenizer.ggml.tokens");

  w = spm_gguf();
  w.set_f32_array("tokenizer.ggml.scores", {1.0f, 2.0f});
  expect_error_names(w, "tokenizer.ggml.scores");

  w = spm_gguf();
  w.set_i32_array("tokenizer.ggml.token_type", std::vector<int32_t>(make_vocab().tokens.size(), 9));
  expect_error_names(w, "tokenizer.ggml.token_type");

  w = spm_gguf();
  w.set_u32("tokenizer.ggml.eos_token_id", 100000);
  expect_error_names(w, "tokenizer.ggml.eos_token_id");

  w = spm_gguf();
  w.set_string("tokenizer.ggml.add_bos_token", "yes");
  expect_error_names(w, "tokenizer.ggml.add_bos_token");

  w = spm_gguf();
  w.set_u32("tokenizer.ggml.tokens", 5);
  expect_error_names(w, "tokenizer.ggml.tokens");
}

}  // namespace
}  // namespace kvlite
