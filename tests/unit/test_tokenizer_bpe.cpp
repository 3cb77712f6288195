// Byte-level BPE on a hand-built vocabulary and merge list, and the
// pre-tokenizer splits, with every expectation worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace kvlite {
namespace {

using Ids = std::vector<int32_t>;
using Words = std::vector<std::string>;

// GPT-2's byte table writes ' ' as "Ġ" (U+0120) and '\n' as "Ċ" (U+010A);
// printable Latin-1 bytes such as 0xC3 "Ã" and 0xA9 "©" stand for themselves.
const char* const kTokens[] = {
    "<|bos|>", "<|eos|>", "h", "e", "l", "o", "\xC4\xA0", "w", "r", "d",            // 0-9
    "he", "ll", "hell", "hello", "\xC4\xA0w", "or", "\xC4\xA0wor", "ld",            // 10-17
    "\xC4\xA0world", "\xC4\x8A", "\xC3\x83", "\xC2\xA9", "x", "y", "xy", "<|u|>",   // 18-25
    "1", "2", "3",                                                                  // 26-28
};
enum : int32_t {
  kBos, kEos, kH, kE, kL, kO, kSpace, kW, kR, kD,
  kHe, kLl, kHell, kHello, kSpaceW, kOr, kSpaceWor, kLd,
  kSpaceWorld, kNewline, kByteC3, kByteA9, kX, kY, kXY, kUser,
  k1, k2, k3,
};

Vocab make_vocab(std::string pre) {
  Vocab v;
  v.model = "gpt2";
  v.pre = std::move(pre);
  for (const char* t : kTokens) v.tokens.push_back(t);
  v.attrs.assign(v.tokens.size(), TokenAttr::Normal);
  v.attrs[kBos] = v.attrs[kEos] = TokenAttr::Control;
  v.attrs[kUser] = TokenAttr::UserDefined;
  // Rank order. "x y" merges to "xy", which is a token only by its own name:
  // Llama 3 takes a whole word that is a token, GPT-2 only reaches it by merges.
  v.merges = {"h e", "l l", "he ll", "hell o", "\xC4\xA0 w", "o r", "\xC4\xA0w or", "l d",
              "\xC4\xA0wor ld", "1 2"};
  v.bos_id = kBos;
  v.eos_id = kEos;
  v.add_bos = true;
  v.add_space_prefix = false;
  return v;
}

std::unique_ptr<Tokenizer> make_from(Vocab v) {
  Result<std::unique_ptr<Tokenizer>> t = make_tokenizer(std::move(v));
  EXPECT_TRUE(t.ok()) << t.message();
  return t ? std::move(*t) : nullptr;
}

std::unique_ptr<Tokenizer> make(std::string pre = "gpt2") { return make_from(make_vocab(std::move(pre))); }

std::string decode(const Tokenizer& t, const Ids& ids) {
  std::string s;
  for (int32_t id : ids) s += t.piece(id);
  return s;
}

TEST(TokenizerBpe, MergesByRank) {
  auto t = make();
  // h e l l o: "h e" (0), then "l l" (1), "he ll" (2), "hell o" (3).
  EXPECT_EQ(t->encode("hello", false, false), (Ids{kHello}));
  // Ġ w o r l d: "Ġ w" (4), "o r" (5), "Ġw or" (6), "l d" (7), "Ġwor ld" (8).
  EXPECT_EQ(t->encode("hello world", false, false), (Ids{kHello, kSpaceWorld}));
  // Equal ranks: the leftmost pair first.
  EXPECT_EQ(t->encode("lll", false, false), (Ids{kLl, kL}));
  // No merge applies.
  EXPECT_EQ(t->encode("old", false, false), (Ids{kO, kLd}));
}

TEST(TokenizerBpe, BytesGoThroughTheByteTable) {
  auto t = make();
  EXPECT_EQ(t->encode("\xC3\xA9", false, false), (Ids{kByteC3, kByteA9}));  // "é"
  EXPECT_EQ(t->encode("he\nhe", false, false), (Ids{kHe, kNewline, kHe}));
}

TEST(TokenizerBpe, NoDummyPrefixAndBosFromTheVocabulary) {
  auto t = make();
  EXPECT_EQ(t->encode("hello", true, false), (Ids{kBos, kHello}));
  EXPECT_EQ(t->encode("", true, false), (Ids{kBos}));
  EXPECT_EQ(t->encode("", false, false), Ids{});
}

TEST(TokenizerBpe, Llama3TakesWholeWordTokens) {
  EXPECT_EQ(make("gpt2")->encode("xy", false, false), (Ids{kX, kY}));
  EXPECT_EQ(make("llama-bpe")->encode("xy", false, false), (Ids{kXY}));
  EXPECT_EQ(make("qwen2")->encode("xy", false, false), (Ids{kX, kY}));
}

TEST(TokenizerBpe, DigitsFollowThePreTokenizer) {
  // "1 2" merges, but "12" is no token here: the symbol falls back to its characters.
  EXPECT_EQ(make("gpt2")->encode("123", false, false), (Ids{k1, k2, k3}));
  Vocab v = make_vocab("gpt2");
  v.tokens.push_back("12");
  v.attrs.push_back(TokenAttr::Normal);
  const auto k12 = int32_t(v.tokens.size() - 1);
  auto gpt2 = make_from(v);
  v.pre = "llama3";
  auto llama3 = make_from(v);
  v.pre = "qwen2";
  auto qwen2 = make_from(v);
  EXPECT_EQ(gpt2->encode("123", false, false), (Ids{k12, k3}));
  EXPECT_EQ(llama3->encode("123", false, false), (Ids{k12, k3}));
  // Qwen2 splits digits apart before any merge.
  EXPECT_EQ(qwen2->encode("123", false, false), (Ids{k1, k2, k3}));
}

TEST(TokenizerBpe, SpecialTokens) {
  auto t = make();
  EXPECT_EQ(t->encode("<|bos|>hello<|eos|>", false, true), (Ids{kBos, kHello, kEos}));
  // Without parse_special the text is tokenized as text ('<', '|' have no tokens: dropped).
  const Ids plain = t->encode("<|bos|>", false, false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), kBos), 0);
  EXPECT_EQ(t->encode("he<|u|>", false, false), (Ids{kHe, kUser}));
}

TEST(TokenizerBpe, Pieces) {
  auto t = make();
  EXPECT_EQ(t->piece(kSpaceWorld), " world");
  EXPECT_EQ(t->piece(kNewline), "\n");
  EXPECT_EQ(t->piece(kByteC3) + t->piece(kByteA9), "\xC3\xA9");
  EXPECT_EQ(t->piece(kBos), "");
  EXPECT_EQ(t->piece(kBos, true), "<|bos|>");
  EXPECT_EQ(t->piece(kUser), "<|u|>");
  EXPECT_EQ(decode(*t, t->encode("hello world\nhello", false, false)), "hello world\nhello");
}

TEST(TokenizerBpe, UnknownPreTokenizerIsAnError) {
  Result<std::unique_ptr<Tokenizer>> t = make_tokenizer(make_vocab("no-such-pre"));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("tokenizer.ggml.pre"), std::string::npos) << t.message();
}

TEST(TokenizerBpe, ReadVocabFromGguf) {
  const Vocab expected = make_vocab("llama-bpe");
  GgufWriter w;
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", "llama-bpe");
  w.set_string_array("tokenizer.ggml.tokens", expected.tokens);
  w.set_string_array("tokenizer.ggml.merges", expected.merges);
  w.set_u32("tokenizer.ggml.bos_token_id", kBos);
  const std::vector<uint8_t> bytes = w.write_buffer();
  std::unique_ptr<ByteSource> source = memory_source(bytes.data(), bytes.size(), "bpe.gguf");
  Result<GgufFile> file = parse_gguf(*source);
  ASSERT_TRUE(file.ok()) << file.message();
  Result<Vocab> v = read_vocab(*file);
  ASSERT_TRUE(v.ok()) << v.message();
  EXPECT_EQ(v->pre, "llama-bpe");
  EXPECT_EQ(v->merges, expected.merges);
  EXPECT_TRUE(v->scores.empty());
  EXPECT_TRUE(v->attrs.empty());
  EXPECT_FALSE(v->add_bos);  // llama.cpp's default for GPT-2 style vocabularies
  EXPECT_FALSE(v->add_space_prefix);
  auto t = make_from(std::move(*v));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->encode("hello world", true, true), (Ids{kHello, kSpaceWorld}));

  // take_vocab (the model loader) gives the same vocabulary, moving the
  // strings out of the metadata and leaving the head it lists, printed as before.
  const GgufValue* tokens = file->find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  const std::string listed = format_value(*tokens);
  Result<Vocab> taken = take_vocab(*file);
  ASSERT_TRUE(taken.ok()) << taken.message();
  EXPECT_EQ(taken->tokens, expected.tokens);
  EXPECT_EQ(taken->merges, expected.merges);
  EXPECT_EQ(format_value(*tokens), listed);
  const auto& held = std::get<std::shared_ptr<GgufArray>>(tokens->v);
  EXPECT_EQ(held->size(), std::min(expected.tokens.size(), kMetadataItemsShown));
  EXPECT_EQ(held->size() + held->dropped, expected.tokens.size());
}

Words split(PreTokenizer kind, std::string_view text) {
  std::vector<std::string_view> views;
  pre_tokenize(kind, text, views);
  return Words(views.begin(), views.end());
}

TEST(PreTokenizer, NamesFromGguf) {
  EXPECT_EQ(pre_tokenizer_from_name("llama-bpe"), PreTokenizer::Llama3);
  EXPECT_EQ(pre_tokenizer_from_name("llama3"), PreTokenizer::Llama3);
  EXPECT_EQ(pre_tokenizer_from_name("qwen2"), PreTokenizer::Qwen2);
  EXPECT_EQ(pre_tokenizer_from_name("smollm"), PreTokenizer::SmolLm);
  EXPECT_EQ(pre_tokenizer_from_name("default"), PreTokenizer::Gpt2);
  EXPECT_EQ(pre_tokenizer_from_name("gpt2"), PreTokenizer::Gpt2);
  EXPECT_EQ(pre_tokenizer_from_name("no-such-pre"), std::nullopt);
}

TEST(PreTokenizer, Llama3) {
  const auto k = PreTokenizer::Llama3;
  EXPECT_EQ(split(k, "Hello world"), (Words{"Hello", " world"}));
  EXPECT_EQ(split(k, "I'm don't WE'LL they've"),
            (Words{"I", "'m", " don", "'t", " WE", "'LL", " they", "'ve"}));
  EXPECT_EQ(split(k, "1234567"), (Words{"123", "456", "7"}));
  EXPECT_EQ(split(k, "a\n\nb"), (Words{"a", "\n\n", "b"}));
  EXPECT_EQ(split(k, "x\n  y"), (Words{"x", "\n", " ", " y"}));
  EXPECT_EQ(split(k, "a  b"), (Words{"a", " ", " b"}));
  EXPECT_EQ(split(k, "a   "), (Words{"a", "   "}));
  EXPECT_EQ(split(k, "hello, world!"), (Words{"hello", ",", " world", "!"}));
  EXPECT_EQ(split(k, "...\n\nNext"), (Words{"...\n\n", "Next"}));
  EXPECT_EQ(split(k, "$100 (yes)"), (Words{"$", "100", " (", "yes", ")"}));
  EXPECT_EQ(split(k, "\tTom"), (Words{"\tTom"}));
  EXPECT_EQ(split(k, "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E text"),  // 日本語: letters
            (Words{"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", " text"}));
  EXPECT_EQ(split(k, "hi \xF0\x9F\x99\x82\xF0\x9F\x99\x82!"),  // emoji are symbols, like '!'
            (Words{"hi", " \xF0\x9F\x99\x82\xF0\x9F\x99\x82!"}));
  EXPECT_EQ(split(k, "caf\xC3\xA9 na\xC3\xAFve"), (Words{"caf\xC3\xA9", " na\xC3\xAFve"}));
  EXPECT_EQ(split(k, ""), Words{});
}

TEST(PreTokenizer, Qwen2SplitsSingleDigits) {
  const auto k = PreTokenizer::Qwen2;
  EXPECT_EQ(split(k, "1234567"), (Words{"1", "2", "3", "4", "5", "6", "7"}));
  EXPECT_EQ(split(k, "a1 b"), (Words{"a", "1", " b"}));
  EXPECT_EQ(split(k, "It's"), (Words{"It", "'s"}));
}

TEST(PreTokenizer, SmolLmSplitsDigitsThenGpt2) {
  const auto k = PreTokenizer::SmolLm;
  EXPECT_EQ(split(k, "a 12"), (Words{"a", " ", "1", "2"}));  // the space stays apart from the digit
  EXPECT_EQ(split(k, "x123 yes"), (Words{"x", "1", "2", "3", " yes"}));
  EXPECT_EQ(split(k, "Hello  world\n"), (Words{"Hello", " ", " world", "\n"}));
  EXPECT_EQ(split(k, "I'm 3x"), (Words{"I", "'m", " ", "3", "x"}));
}

TEST(PreTokenizer, Gpt2) {
  const auto k = PreTokenizer::Gpt2;
  EXPECT_EQ(split(k, "Hello  world\n"), (Words{"Hello", " ", " world", "\n"}));
  EXPECT_EQ(split(k, "I'm WE'LL"), (Words{"I", "'m", " WE", "'", "LL"}));
  EXPECT_EQ(split(k, "1234567 abc"), (Words{"1234567", " abc"}));
  EXPECT_EQ(split(k, "x, y!!"), (Words{"x", ",", " y", "!!"}));
  EXPECT_EQ(split(k, "a\n\nb"), (Words{"a", "\n", "\n", "b"}));
}

TEST(PreTokenizer, WordsCoverTheTextExactly) {
  const std::string texts[] = {
      "  leading and trailing  ", "mixed 12ab34 \r\n\r\n tabs\t\tand\u00a0nbsp",
      "bad \xFF\xC3 utf8 \xE2\x82", "\xF0\x9F\x99\x82\xF0\x9F\x99\x82 'quoted' it's 'S",
  };
  for (auto kind : {PreTokenizer::Gpt2, PreTokenizer::Llama3, PreTokenizer::Qwen2, PreTokenizer::SmolLm}) {
    for (const std::string& text : texts) {
      std::string joined;
      for (const std::string& w : split(kind, text)) {
        EXPECT_FALSE(w.empty());
        joined += w;
      }
      EXPECT_EQ(joined, text);
    }
  }
}

}  // namespace
}  // namespace kvlite
