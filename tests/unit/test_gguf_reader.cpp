// The GGUF reader and writer: round trips of every value type, and a corpus of
// broken files built from valid writer output, each of which must fail with a
// message that says what and where, never crash and never over-allocate.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "format/gguf_writer.h"

namespace kvlite {
namespace {

using Bytes = std::vector<uint8_t>;

Result<GgufFile> parse_bytes(const Bytes& bytes, const GgufLimits& limits = GgufLimits{}) {
  auto src = memory_source(bytes.data(), bytes.size(), "test.gguf");
  return parse_gguf(*src, limits);
}

// The offset just past a length-prefixed string in the file, i.e. where a
// key's type tag or a tensor's n_dims starts.
size_t after_string(const Bytes& bytes, const std::string& s) {
  Bytes needle(8 + s.size());
  const uint64_t n = s.size();
  std::memcpy(needle.data(), &n, 8);
  std::memcpy(needle.data() + 8, s.data(), s.size());
  auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  EXPECT_NE(it, bytes.end()) << "string '" << s << "' not in the file";
  return size_t(it - bytes.begin()) + needle.size();
}

template <class T>
void patch(Bytes& bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

void rename_string(Bytes& bytes, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  const size_t end = after_string(bytes, from);
  std::memcpy(bytes.data() + end - from.size(), to.data(), to.size());
}

std::vector<float> iota_floats(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = float(i) * 0.5f - 3.0f;
  return v;
}

// A small valid file: some metadata and three tensors of different types.
GgufWriter small_writer(uint32_t alignment = 32) {
  GgufWriter w;
  EXPECT_TRUE(w.set_alignment(alignment).ok());
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 5);
  w.set_string("test.string", "hello");
  w.set_i32_array("test.arr", {1, 2, 3});
  w.set_f32("test.float", 1.5f);
  const auto a = iota_floats(8 * 3);
  EXPECT_TRUE(w.add_tensor("tensor.f32", {8, 3}, TensorType::F32, a.data(), a.size() * 4).ok());
  const Bytes q8(2 * 34, 7);
  EXPECT_TRUE(w.add_tensor("tensor.q8", {32, 2}, TensorType::Q8_0, q8.data(), q8.size()).ok());
  const Bytes f16(5 * 2, 1);
  EXPECT_TRUE(w.add_tensor("tensor.f16", {5}, TensorType::F16, f16.data(), f16.size()).ok());
  return w;
}

Bytes small_file(uint32_t alignment = 32) { return small_writer(alignment).write_buffer(); }

std::string parse_error(const Bytes& bytes, const GgufLimits& limits = GgufLimits{}) {
  auto r = parse_bytes(bytes, limits);
  EXPECT_FALSE(r.ok()) << "a broken file parsed";
  return r.ok() ? std::string() : r.message();
}

#define EXPECT_MENTIONS(message, word) \
  EXPECT_NE((message).find(word), std::string::npos) << "message: " << (message) << "\nmissing: " << (word)

// ---------------------------------------------------------------------------
// Round trips

TEST(GgufRoundTrip, EveryScalarType) {
  GgufWriter w;
  w.set_u8("u8", 250);
  w.set_i8("i8", -120);
  w.set_u16("u16", 65000);
  w.set_i16("i16", -32000);
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -2000000000);
  w.set_u64("u64", std::numeric_limits<uint64_t>::max());
  w.set_i64("i64", std::numeric_limits<int64_t>::min());
  w.set_f32("f32", 0.1f);
  w.set_f64("f64", -1e300);
  w.set_bool("t", true);
  w.set_bool("f", false);
  w.set_string("s", std::string("a\0b\xe2\x96\x81", 6));
  w.set_string("empty", "");
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok()) << r.message();
  const GgufFile& f = *r;
  EXPECT_EQ(f.version, 3u);
  ASSERT_EQ(f.metadata.size(), 14u);
  EXPECT_EQ(f.metadata[0].first, "u8");  // file order kept
  EXPECT_EQ(f.find("u8")->type, GgufValueType::UINT8);
  EXPECT_EQ(f.get_int("u8").value(), 250);
  EXPECT_EQ(f.get_int("i8").value(), -120);
  EXPECT_EQ(f.get_int("u16").value(), 65000);
  EXPECT_EQ(f.get_int("i16").value(), -32000);
  EXPECT_EQ(f.get_int("u32").value(), 4000000000ll);
  EXPECT_EQ(f.find("i32")->type, GgufValueType::INT32);
  EXPECT_EQ(f.get_int("i32").value(), -2000000000);
  EXPECT_EQ(std::get<uint64_t>(f.find("u64")->v), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get_int("i64").value(), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get_float("f32").value(), double(0.1f));
  EXPECT_EQ(f.find("f32")->type, GgufValueType::FLOAT32);
  EXPECT_EQ(f.get_float("f64").value(), -1e300);
  EXPECT_TRUE(f.get_bool("t").value());
  EXPECT_FALSE(f.get_bool("f").value());
  EXPECT_EQ(f.get_string("s").value(), std::string("a\0b\xe2\x96\x81", 6));
  EXPECT_EQ(f.get_string("empty").value(), "");
  EXPECT_TRUE(f.tensors.empty());
}

TEST(GgufRoundTrip, ArraysOfEveryType) {
  GgufWriter w;
  w.set_string_array("strings", {"<s>", "", "\xe2\x96\x81the"});
  w.set_i32_array("i32", {-1, 0, 7});
  w.set_u32_array("u32", {0, 4000000000u});
  w.set_f32_array("f32", {0.25f, -1.5f});
  w.set_array("f64", gguf_float_array(GgufValueType::FLOAT64, {1e-300, 2.0}));
  w.set_array("bool", gguf_int_array(GgufValueType::BOOL, {1, 0, 1}));
  w.set_array("u8", gguf_int_array(GgufValueType::UINT8, {0, 255}));
  w.set_array("i8", gguf_int_array(GgufValueType::INT8, {-128, 127}));
  w.set_array("u16", gguf_int_array(GgufValueType::UINT16, {65535}));
  w.set_array("i16", gguf_int_array(GgufValueType::INT16, {-32768}));
  w.set_array("u64", gguf_int_array(GgufValueType::UINT64, {std::numeric_limits<int64_t>::max()}));
  w.set_array("i64", gguf_int_array(GgufValueType::INT64, {std::numeric_limits<int64_t>::min()}));
  w.set_array("empty", gguf_int_array(GgufValueType::INT32, {}));
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok()) << r.message();
  const GgufFile& f = *r;
  const GgufArray* s = f.get_array("strings").value();
  EXPECT_EQ(s->elem_type, GgufValueType::STRING);
  EXPECT_EQ(s->strings, (std::vector<std::string>{"<s>", "", "\xe2\x96\x81the"}));
  EXPECT_EQ(f.get_array("i32").value()->ints, (std::vector<int64_t>{-1, 0, 7}));
  EXPECT_EQ(f.get_array("u32").value()->ints, (std::vector<int64_t>{0, 4000000000ll}));
  EXPECT_EQ(f.get_array("f32").value()->floats, (std::vector<double>{0.25, -1.5}));
  EXPECT_EQ(f.get_array("f64").value()->floats, (std::vector<double>{1e-300, 2.0}));
  EXPECT_EQ(f.get_array("bool").value()->ints, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(f.get_array("u8").value()->ints, (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(f.get_array("i8").value()->ints, (std::vector<int64_t>{-128, 127}));
  EXPECT_EQ(f.get_array("u16").value()->ints, (std::vector<int64_t>{65535}));
  EXPECT_EQ(f.get_array("i16").value()->ints, (std::vector<int64_t>{-32768}));
  EXPECT_EQ(f.get_array("u64").value()->ints, (std::vector<int64_t>{std::numeric_limits<int64_t>::max()}));
  EXPECT_EQ(f.get_array("i64").value()->ints, (std::vector<int64_t>{std::numeric_limits<int64_t>::min()}));
  EXPECT_EQ(f.get_array("empty").value()->size(), 0u);
  EXPECT_EQ(f.get_array("empty").value()->elem_type, GgufValueType::INT32);
  EXPECT_EQ(f.get_array("u8").value()->elem_type, GgufValueType::UINT8);
}

TEST(GgufRoundTrip, NestedArrays) {
  GgufArray inner1 = gguf_int_array(GgufValueType::INT16, {1, 2});
  GgufArray inner2 = gguf_string_array({"x"});
  GgufArray middle = gguf_nested_array({inner1, inner2});
  GgufWriter w;
  w.set_array("nested", gguf_nested_array({middle, gguf_nested_array({})}));
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok()) << r.message();
  const GgufArray* top = r->get_array("nested").value();
  ASSERT_EQ(top->elem_type, GgufValueType::ARRAY);
  ASSERT_EQ(top->size(), 2u);
  ASSERT_EQ(top->arrays[0].size(), 2u);
  EXPECT_EQ(top->arrays[0].arrays[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(top->arrays[0].arrays[0].elem_type, GgufValueType::INT16);
  EXPECT_EQ(top->arrays[0].arrays[1].strings, (std::vector<std::string>{"x"}));
  EXPECT_EQ(top->arrays[1].size(), 0u);
  EXPECT_EQ(format_value(*r->find("nested")), "[[[1, 2], [\"x\"]], []]");
}

TEST(GgufRoundTrip, ParsedMetadataWritesBackIdentically) {
  const Bytes original = small_file();
  auto r = parse_bytes(original);
  ASSERT_TRUE(r.ok()) << r.message();
  GgufWriter w;
  for (const auto& [key, value] : r->metadata) w.set_value(key, value);
  auto src = memory_source(original.data(), original.size());
  for (const TensorInfo& t : r->tensors) {
    Bytes data(t.n_bytes);
    ASSERT_TRUE(src->read(t.offset, data.data(), data.size()).ok());
    w.add_raw_tensor(t.name, std::vector<int64_t>(t.ne, t.ne + t.n_dims), t.raw_type, data);
  }
  EXPECT_EQ(w.write_buffer(), original);
}

class GgufAlignment : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufAlignment, TensorsLandAlignedAndReadBack) {
  const uint32_t alignment = GetParam();
  const Bytes bytes = small_file(alignment);
  auto r = parse_bytes(bytes);
  ASSERT_TRUE(r.ok()) << r.message();
  const GgufFile& f = *r;
  EXPECT_EQ(f.alignment, alignment);
  EXPECT_EQ(f.data_offset % alignment, 0u);
  EXPECT_EQ(bytes.size() % alignment, 0u);
  ASSERT_EQ(f.tensors.size(), 3u);
  for (const TensorInfo& t : f.tensors) {
    EXPECT_EQ(t.offset % alignment, 0u) << t.name;
    EXPECT_NE(t.traits, nullptr);
  }
  const TensorInfo* a = f.find_tensor("tensor.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->offset, f.data_offset);
  EXPECT_EQ(a->n_dims, 2u);
  EXPECT_EQ(a->ne[0], 8);
  EXPECT_EQ(a->ne[1], 3);
  EXPECT_EQ(a->ne[2], 1);
  EXPECT_EQ(a->n_elements(), 24);
  EXPECT_EQ(a->n_rows(), 3);
  EXPECT_EQ(a->n_bytes, 96u);
  std::vector<float> back(24);
  std::memcpy(back.data(), bytes.data() + a->offset, 96);
  EXPECT_EQ(back, iota_floats(24));
  const TensorInfo* q = f.find_tensor("tensor.q8");
  EXPECT_EQ(q->traits->type, TensorType::Q8_0);
  EXPECT_EQ(q->n_bytes, 68u);
  EXPECT_EQ(q->offset, f.data_offset + (alignment == 32 ? 96u : 128u));
  EXPECT_EQ(f.find_tensor("tensor.f16")->n_bytes, 10u);
  EXPECT_EQ(f.find_tensor("missing"), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufAlignment, ::testing::Values(32u, 64u));

TEST(GgufRoundTrip, DefaultAlignmentIs32WithoutTheKey) {
  GgufWriter w;
  const float x[3] = {1, 2, 3};
  ASSERT_TRUE(w.add_tensor("t", {3}, TensorType::F32, x, sizeof x).ok());
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->alignment, 32u);
  EXPECT_EQ(r->find("general.alignment"), nullptr);
  EXPECT_EQ(r->data_offset % 32, 0u);
}

TEST(GgufRoundTrip, VersionTwoHeader) {
  GgufWriter w = small_writer();
  w.set_version(2);
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->tensors.size(), 3u);
}

TEST(GgufRoundTrip, SettingAKeyTwiceReplacesIt) {
  GgufWriter w;
  w.set_u32("k", 1);
  w.set_string("other", "x");
  w.set_string("k", "now a string");
  w.remove("other");
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->metadata.size(), 1u);
  EXPECT_EQ(r->get_string("k").value(), "now a string");
}

TEST(GgufRoundTrip, FileOnDiskThroughFileSource) {
  GgufWriter w = small_writer();
  std::vector<float> big(4096 * 8);  // larger than one header window
  for (size_t i = 0; i < big.size(); ++i) big[i] = float(i);
  ASSERT_TRUE(w.add_tensor("fill.big", {4096, 8}, TensorType::F32, [](uint8_t* dst, size_t n) {
    for (size_t i = 0; i < n / 4; ++i) {
      const float v = float(i);
      std::memcpy(dst + 4 * i, &v, 4);
    }
  }).ok());
  const std::string path = ::testing::TempDir() + "/kvlite_gguf_roundtrip.gguf";
  ASSERT_TRUE(w.write_file(path).ok());
  auto src = open_file_source(path);
  ASSERT_TRUE(src.ok()) << src.message();
  EXPECT_EQ((*src)->size(), w.file_size());
  EXPECT_EQ((*src)->describe(), path);
  auto r = parse_gguf(**src);
  ASSERT_TRUE(r.ok()) << r.message();
  const TensorInfo* t = r->find_tensor("fill.big");
  ASSERT_NE(t, nullptr);
  std::vector<float> back(big.size());
  ASSERT_TRUE((*src)->read(t->offset, back.data(), t->n_bytes).ok());
  EXPECT_EQ(back, big);
  EXPECT_EQ(w.write_buffer().size(), w.file_size());
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// Reads: windowed, never the tensor data

class CountingSource : public ByteSource {
 public:
  explicit CountingSource(const Bytes& b) : inner_(memory_source(b.data(), b.size(), "counted")) {}
  uint64_t size() const override { return inner_->size(); }
  std::string describe() const override { return inner_->describe(); }
  Status read(uint64_t offset, void* dst, size_t n) override {
    ++calls;
    largest = std::max(largest, n);
    furthest = std::max(furthest, offset + n);
    return inner_->read(offset, dst, n);
  }
  int calls = 0;
  size_t largest = 0;
  uint64_t furthest = 0;

 private:
  std::unique_ptr<ByteSource> inner_;
};

TEST(GgufReader, ReadsTheHeaderInWindowsAndSkipsTensorData) {
  GgufWriter w;
  std::vector<std::string> tokens;
  for (int i = 0; i < 30000; ++i) tokens.push_back("token" + std::to_string(i));
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_string("long", std::string(200000, 'x'));  // read straight into the string
  const Bytes data(1 << 20, 0);
  ASSERT_TRUE(w.add_tensor("t", {1 << 18}, TensorType::F32, data.data(), data.size()).ok());
  const Bytes bytes = w.write_buffer();
  CountingSource src(bytes);
  auto r = parse_gguf(src);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->get_array("tokenizer.ggml.tokens").value()->strings, tokens);
  EXPECT_EQ(r->get_string("long").value().size(), 200000u);
  EXPECT_LE(src.furthest, r->data_offset + (64u << 10));  // one window of read-ahead at most
  EXPECT_LT(src.calls, 20);
  EXPECT_LE(src.largest, 200000u);
}

// ---------------------------------------------------------------------------
// Getters and rendering

TEST(GgufGetters, ErrorsNameTheKeyAndWhatWasFound) {
  auto r = parse_bytes(small_file());
  ASSERT_TRUE(r.ok()) << r.message();
  const GgufFile& f = *r;
  auto missing = f.get_int("llama.context_length");
  ASSERT_FALSE(missing.ok());
  EXPECT_MENTIONS(missing.message(), "llama.context_length");
  EXPECT_MENTIONS(missing.message(), "missing");

  auto wrong = f.get_int("general.architecture");
  ASSERT_FALSE(wrong.ok());
  EXPECT_MENTIONS(wrong.message(), "general.architecture");
  EXPECT_MENTIONS(wrong.message(), "string");
  EXPECT_MENTIONS(wrong.message(), "integer");

  EXPECT_MENTIONS(f.get_string("llama.block_count").message(), "uint32");
  EXPECT_MENTIONS(f.get_bool("test.float").message(), "float32");
  EXPECT_MENTIONS(f.get_array("test.string").message(), "test.string");
  EXPECT_MENTIONS(f.get_string("test.arr").message(), "array of int32");
  EXPECT_FALSE(f.get_float("general.architecture").ok());

  EXPECT_EQ(f.get_float("llama.block_count").value(), 5.0);  // integers widen to float
  EXPECT_EQ(f.get_float("test.float").value(), 1.5);
  EXPECT_EQ(f.get_string("general.architecture").value(), "llama");

  EXPECT_EQ(f.get_int_or("absent", 42).value(), 42);
  EXPECT_EQ(f.get_float_or("absent", 0.5).value(), 0.5);
  EXPECT_TRUE(f.get_bool_or("absent", true).value());
  EXPECT_EQ(f.get_string_or("absent", "dflt").value(), "dflt");
  EXPECT_EQ(f.get_int_or("llama.block_count", 42).value(), 5);
  // A present key of the wrong type is still an error.
  EXPECT_FALSE(f.get_int_or("general.architecture", 1).ok());
  EXPECT_FALSE(f.get_string_or("llama.block_count", "x").ok());
}

TEST(GgufGetters, Uint64AboveInt64MaxIsAnError) {
  GgufWriter w;
  w.set_u64("big", std::numeric_limits<uint64_t>::max());
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok());
  auto v = r->get_int("big");
  ASSERT_FALSE(v.ok());
  EXPECT_MENTIONS(v.message(), "big");
  EXPECT_MENTIONS(v.message(), "18446744073709551615");
}

TEST(GgufFormat, RendersValues) {
  GgufWriter w;
  w.set_f32("f", 0.1f);
  w.set_f64("d", 0.1);
  w.set_i32("i", -7);
  w.set_bool("b", true);
  w.set_string("s", "a\"b\n");
  std::vector<int32_t> many(20);
  for (int i = 0; i < 20; ++i) many[size_t(i)] = i;
  w.set_i32_array("many", many);
  w.set_string_array("strs", {"x", "y"});
  auto r = parse_bytes(w.write_buffer());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(format_value(*r->find("f")), "0.1");
  EXPECT_EQ(format_value(*r->find("d")), "0.1");
  EXPECT_EQ(format_value(*r->find("i")), "-7");
  EXPECT_EQ(format_value(*r->find("b")), "true");
  EXPECT_EQ(format_value(*r->find("s")), "\"a\\\"b\\n\"");
  EXPECT_EQ(format_value(*r->find("many"), 3), "[0, 1, 2, ... 17 more]");
  // A loaded model keeps only the head of long arrays; they print the same.
  GgufValue trimmed = *r->find("many");
  std::get<std::shared_ptr<GgufArray>>(trimmed.v)->keep_first(3);
  EXPECT_EQ(std::get<std::shared_ptr<GgufArray>>(trimmed.v)->size(), 3u);
  EXPECT_EQ(format_value(trimmed, 3), "[0, 1, 2, ... 17 more]");
  EXPECT_EQ(format_value(trimmed, 8), "[0, 1, 2, ... 17 more]");
  EXPECT_EQ(format_value(*r->find("strs")), "[\"x\", \"y\"]");
}

// ---------------------------------------------------------------------------
// Byte sources

TEST(ByteSource, ReadPastTheEndNamesOffsetLengthAndSize) {
  const Bytes b(100, 0);
  auto src = memory_source(b.data(), b.size(), "buf");
  uint8_t out[16];
  EXPECT_TRUE(src->read(84, out, 16).ok());
  Status s = src->read(90, out, 16);
  ASSERT_FALSE(s.ok());
  EXPECT_MENTIONS(s.message(), "buf");
  EXPECT_MENTIONS(s.message(), "offset 90");
  EXPECT_MENTIONS(s.message(), "16 bytes");
  EXPECT_MENTIONS(s.message(), "size 100");
  EXPECT_FALSE(src->read(std::numeric_limits<uint64_t>::max(), out, 2).ok());
  auto owned = owned_memory_source(Bytes{1, 2, 3}, "owned");
  EXPECT_EQ(owned->size(), 3u);
  uint8_t three[3];
  ASSERT_TRUE(owned->read(0, three, 3).ok());
  EXPECT_EQ(three[2], 3);
}

TEST(ByteSource, FileSourceErrors) {
  auto missing = open_file_source("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_MENTIONS(missing.message(), "/nonexistent/dir/model.gguf");
  EXPECT_FALSE(open_file_source(::testing::TempDir()).ok());  // a directory

  const std::string path = ::testing::TempDir() + "/kvlite_byte_source.bin";
  GgufWriter w;
  ASSERT_TRUE(w.write_file(path).ok());
  auto src = open_file_source(path);
  ASSERT_TRUE(src.ok());
  uint8_t out[8];
  Status s = (*src)->read((*src)->size() - 4, out, 8);
  ASSERT_FALSE(s.ok());
  EXPECT_MENTIONS(s.message(), path);
  EXPECT_MENTIONS(s.message(), "offset");
  std::remove(path.c_str());
}

// ---------------------------------------------------------------------------
// Broken files

TEST(GgufBroken, TruncatedAtEveryHeaderOffsetFailsCleanly) {
  const Bytes good = small_file();
  auto r = parse_bytes(good);
  ASSERT_TRUE(r.ok());
  for (size_t n = 0; n < r->data_offset + 1; ++n) {
    const Bytes cut(good.begin(), good.begin() + long(n));
    auto bad = parse_bytes(cut);
    ASSERT_FALSE(bad.ok()) << "prefix of " << n << " bytes parsed";
    EXPECT_MENTIONS(bad.message(), "test.gguf");
    EXPECT_MENTIONS(bad.message(), "offset");
  }
}

TEST(GgufBroken, WrongMagic) {
  Bytes b = small_file();
  b[0] = 'X';
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "magic");
  EXPECT_MENTIONS(m, "XGUF");
}

TEST(GgufBroken, VersionOneIsRefused) {
  Bytes b = small_file();
  patch<uint32_t>(b, 4, 1);
  EXPECT_MENTIONS(parse_error(b), "version 1");
}

TEST(GgufBroken, UnknownVersion) {
  Bytes b = small_file();
  patch<uint32_t>(b, 4, 99);
  EXPECT_MENTIONS(parse_error(b), "version 99");
  patch<uint32_t>(b, 4, 0x03000000u);
  EXPECT_MENTIONS(parse_error(b), "big-endian");
}

TEST(GgufBroken, AbsurdCounts) {
  Bytes b = small_file();
  patch<uint64_t>(b, 8, uint64_t(1) << 62);
  std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor count 4611686018427387904");
  EXPECT_MENTIONS(m, "offset 8");

  b = small_file();
  patch<uint64_t>(b, 16, uint64_t(1) << 62);
  m = parse_error(b);
  EXPECT_MENTIONS(m, "metadata entry count 4611686018427387904");
  EXPECT_MENTIONS(m, "offset 16");

  // Under the limits but more than the bytes left could hold.
  b = small_file();
  patch<uint64_t>(b, 16, 1000);
  EXPECT_MENTIONS(parse_error(b), "bytes are left");
}

TEST(GgufBroken, StringLengthPastTheFile) {
  Bytes b = small_file();
  const size_t len_at = after_string(b, "test.string") + 4;
  patch<uint64_t>(b, len_at, uint64_t(1) << 60);
  std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "test.string");
  EXPECT_MENTIONS(m, "string length 1152921504606846976");
  EXPECT_MENTIONS(m, "offset " + std::to_string(len_at));

  patch<uint64_t>(b, len_at, b.size());  // under the limit, longer than what remains
  m = parse_error(b);
  EXPECT_MENTIONS(m, "test.string");
  EXPECT_MENTIONS(m, "left in the file");
}

TEST(GgufBroken, KeyLengthPastTheFile) {
  Bytes b = small_file();
  const size_t at = after_string(b, "llama.block_count") - 17 - 8;
  patch<uint64_t>(b, at, uint64_t(1) << 60);
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "metadata key");
  EXPECT_MENTIONS(m, "entry 2");
}

TEST(GgufBroken, HugeArrayCount) {
  Bytes b = small_file();
  const size_t count_at = after_string(b, "test.arr") + 8;
  patch<uint64_t>(b, count_at, uint64_t(1) << 60);
  std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "test.arr");
  EXPECT_MENTIONS(m, "1152921504606846976");
  EXPECT_MENTIONS(m, "offset " + std::to_string(count_at));

  patch<uint64_t>(b, count_at, 1000);  // under the limit, too many for the bytes left
  m = parse_error(b);
  EXPECT_MENTIONS(m, "test.arr");
  EXPECT_MENTIONS(m, "bytes are left");
}

TEST(GgufBroken, ArrayOfHugeStrings) {
  GgufWriter w;
  w.set_string_array("strs", {"a", "b"});
  Bytes b = w.write_buffer();
  patch<uint64_t>(b, after_string(b, "strs") + 4 + 4 + 8, uint64_t(1) << 60);
  EXPECT_MENTIONS(parse_error(b), "strs");
}

TEST(GgufBroken, NestingPastTheDepthLimit) {
  GgufArray a = gguf_int_array(GgufValueType::INT32, {1});
  for (int i = 1; i < 100; ++i) a = gguf_nested_array({a});
  GgufWriter w;
  w.set_array("deep", a);
  const std::string m = parse_error(w.write_buffer());
  EXPECT_MENTIONS(m, "deep");
  EXPECT_MENTIONS(m, "nested deeper");

  GgufArray ok = gguf_int_array(GgufValueType::INT32, {1});
  for (int i = 1; i < 8; ++i) ok = gguf_nested_array({ok});
  GgufWriter w8;
  w8.set_array("eight", ok);
  EXPECT_TRUE(parse_bytes(w8.write_buffer()).ok());
}

TEST(GgufBroken, UnknownValueType) {
  Bytes b = small_file();
  const size_t at = after_string(b, "test.float");
  patch<uint32_t>(b, at, 13);
  std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "test.float");
  EXPECT_MENTIONS(m, "unknown value type 13");
  EXPECT_MENTIONS(m, "offset " + std::to_string(at));

  b = small_file();
  patch<uint32_t>(b, after_string(b, "test.arr") + 4, 0xffffffffu);  // element type
  m = parse_error(b);
  EXPECT_MENTIONS(m, "test.arr");
  EXPECT_MENTIONS(m, "unknown value type 4294967295");
}

TEST(GgufBroken, BoolThatIsNeitherZeroNorOne) {
  GgufWriter w;
  w.set_bool("flag", true);
  Bytes b = w.write_buffer();
  b[after_string(b, "flag") + 4] = 2;
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "flag");
  EXPECT_MENTIONS(m, "bool");
}

TEST(GgufBroken, Uint64ArrayElementAboveInt64Max) {
  GgufWriter w;
  w.set_array("u64s", gguf_int_array(GgufValueType::UINT64, {1, 2}));
  Bytes b = w.write_buffer();
  patch<uint64_t>(b, after_string(b, "u64s") + 4 + 4 + 8 + 8, std::numeric_limits<uint64_t>::max());
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "u64s");
  EXPECT_MENTIONS(m, "18446744073709551615");
}

TEST(GgufBroken, UnknownTensorType) {
  Bytes b = small_file();
  const size_t at = after_string(b, "tensor.q8") + 4 + 2 * 8;
  patch<uint32_t>(b, at, 99);
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.q8");
  EXPECT_MENTIONS(m, "type id 99");
  EXPECT_MENTIONS(m, "offset " + std::to_string(at));

  GgufWriter w;
  w.add_raw_tensor("raw.t", {4}, 4, Bytes(16));  // id 4 was Q4_2, long removed
  EXPECT_MENTIONS(parse_error(w.write_buffer()), "raw.t");
}

TEST(GgufBroken, DimensionCounts) {
  for (uint32_t n_dims : {0u, 5u, 0xffffffffu}) {
    Bytes b = small_file();
    patch<uint32_t>(b, after_string(b, "tensor.f32"), n_dims);
    const std::string m = parse_error(b);
    EXPECT_MENTIONS(m, "tensor.f32");
    EXPECT_MENTIONS(m, "n_dims is " + std::to_string(n_dims));
  }
}

TEST(GgufBroken, ZeroDimension) {
  Bytes b = small_file();
  patch<uint64_t>(b, after_string(b, "tensor.f32") + 4 + 8, 0);
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.f32");
  EXPECT_MENTIONS(m, "dimension 1");
}

TEST(GgufBroken, DimensionAboveInt64Max) {
  Bytes b = small_file();
  patch<uint64_t>(b, after_string(b, "tensor.f32") + 4, uint64_t(1) << 63);
  EXPECT_MENTIONS(parse_error(b), "tensor.f32");
}

TEST(GgufBroken, ElementCountOverflow) {
  Bytes b = small_file();
  const size_t dims_at = after_string(b, "tensor.q8") + 4;
  patch<uint64_t>(b, dims_at, uint64_t(1) << 32);
  patch<uint64_t>(b, dims_at + 8, uint64_t(1) << 32);
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.q8");
  EXPECT_MENTIONS(m, "overflows");
}

TEST(GgufBroken, RowLengthNotAMultipleOfTheBlock) {
  GgufWriter w;
  w.add_raw_tensor("odd.q8", {33}, uint32_t(TensorType::Q8_0), Bytes(64));
  const std::string m = parse_error(w.write_buffer());
  EXPECT_MENTIONS(m, "odd.q8");
  EXPECT_MENTIONS(m, "block size 32");
}

TEST(GgufBroken, MisalignedTensorOffset) {
  Bytes b = small_file();
  const size_t at = after_string(b, "tensor.q8") + 4 + 2 * 8 + 4;
  patch<uint64_t>(b, at, 100);
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.q8");
  EXPECT_MENTIONS(m, "alignment 32");
  EXPECT_MENTIONS(m, "offset " + std::to_string(at));
}

TEST(GgufBroken, TensorDataPastTheEnd) {
  Bytes b = small_file();
  patch<uint64_t>(b, after_string(b, "tensor.f16") + 4 + 8 + 4, uint64_t(1) << 40);
  std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.f16");
  EXPECT_MENTIONS(m, "past the end");

  b = small_file();
  patch<uint64_t>(b, after_string(b, "tensor.f16") + 4 + 8 + 4, ~uint64_t(31));  // offset + size wraps
  EXPECT_MENTIONS(parse_error(b), "tensor.f16");

  b = small_file();
  b.resize(b.size() - 32);  // the last tensor loses its bytes
  m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.f16");
  EXPECT_MENTIONS(m, "size " + std::to_string(b.size()));
}

TEST(GgufBroken, OverlappingTensors) {
  Bytes b = small_file();
  patch<uint64_t>(b, after_string(b, "tensor.q8") + 4 + 2 * 8 + 4, 64);  // inside tensor.f32 (96 bytes)
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.f32");
  EXPECT_MENTIONS(m, "tensor.q8");
  EXPECT_MENTIONS(m, "overlap");
}

TEST(GgufBroken, BadAlignmentValues) {
  for (uint32_t a : {0u, 3u, 48u}) {
    GgufWriter w = small_writer();
    w.set_u32("general.alignment", a);
    const std::string m = parse_error(w.write_buffer());
    EXPECT_MENTIONS(m, "general.alignment");
    EXPECT_MENTIONS(m, "power of two");
  }
  GgufWriter w = small_writer();
  w.set_string("general.alignment", "32");
  EXPECT_MENTIONS(parse_error(w.write_buffer()), "general.alignment");
  EXPECT_FALSE(w.set_alignment(0).ok());
  EXPECT_FALSE(w.set_alignment(12).ok());
}

TEST(GgufBroken, DuplicateKey) {
  GgufWriter w = small_writer();
  w.set_u32("dup.keyA", 1);
  w.set_u32("dup.keyB", 2);
  Bytes b = w.write_buffer();
  rename_string(b, "dup.keyB", "dup.keyA");
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "dup.keyA");
  EXPECT_MENTIONS(m, "duplicate key");
}

TEST(GgufBroken, DuplicateTensor) {
  Bytes b = small_file();
  rename_string(b, "tensor.f32", "tensor.f16");
  const std::string m = parse_error(b);
  EXPECT_MENTIONS(m, "tensor.f16");
  EXPECT_MENTIONS(m, "duplicate tensor");
}

TEST(GgufBroken, TightLimitsAreHonoured) {
  GgufLimits limits;
  limits.max_string_bytes = 4;
  std::string m = parse_error(small_file(), limits);
  EXPECT_MENTIONS(m, "over the limit");
  limits = GgufLimits{};
  limits.max_tensors = 2;
  EXPECT_MENTIONS(parse_error(small_file(), limits), "tensor count 3");
  limits = GgufLimits{};
  limits.max_array_elements = 2;
  EXPECT_MENTIONS(parse_error(small_file(), limits), "test.arr");
}

// Random byte flips of a valid file: parsing may fail, but must never crash,
// hang or trip the sanitizers; flips outside the header must still parse.
TEST(GgufBroken, RandomMutationsNeverCrash) {
  const Bytes good = small_file();
  const uint64_t header_end = parse_bytes(good)->data_offset;
  std::mt19937 rng(20240531);
  int failures = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    Bytes b = good;
    const int flips = 1 + int(rng() % 4);
    for (int i = 0; i < flips; ++i) {
      const size_t at = rng() % header_end;
      b[at] = (rng() % 3 == 0) ? uint8_t(0xff) : uint8_t(b[at] ^ (1u << (rng() % 8)));
    }
    if (rng() % 8 == 0) b.resize(rng() % b.size());
    auto r = parse_bytes(b);
    if (!r.ok()) {
      ++failures;
      EXPECT_FALSE(r.message().empty());
    } else {
      for (const TensorInfo& t : r->tensors) ASSERT_LE(t.offset + t.n_bytes, b.size());
    }
  }
  EXPECT_GT(failures, 500);  // the mutations did reach the parser's checks
}

// ---------------------------------------------------------------------------
// Writer checks

TEST(GgufWriterTest, AddTensorChecksShapeAndSize) {
  GgufWriter w;
  const Bytes data(1024);
  Status s = w.add_tensor("w", {8, 2}, TensorType::F32, data.data(), 60);
  ASSERT_FALSE(s.ok());
  EXPECT_MENTIONS(s.message(), "'w'");
  EXPECT_MENTIONS(s.message(), "64");
  EXPECT_FALSE(w.add_tensor("w", {}, TensorType::F32, data.data(), 0).ok());
  EXPECT_FALSE(w.add_tensor("w", {1, 1, 1, 1, 1}, TensorType::F32, data.data(), 4).ok());
  EXPECT_FALSE(w.add_tensor("w", {0}, TensorType::F32, data.data(), 0).ok());
  EXPECT_MENTIONS(w.add_tensor("w", {33}, TensorType::Q8_0, data.data(), 34).message(), "block size");
  EXPECT_FALSE(w.add_tensor("w", {32}, TensorType::Q8_0, GgufWriter::FillFn{}).ok());
  EXPECT_EQ(w.n_tensors(), 0u);
  EXPECT_TRUE(w.add_tensor("w", {64, 2}, TensorType::Q8_0, data.data(), 4 * 34).ok());
  EXPECT_EQ(w.n_tensors(), 1u);
}

TEST(GgufWriterTest, WriteFileToABadPathFails) {
  GgufWriter w;
  Status s = w.write_file("/nonexistent/dir/out.gguf");
  ASSERT_FALSE(s.ok());
  EXPECT_MENTIONS(s.message(), "/nonexistent/dir/out.gguf");
}

}  // namespace
}  // namespace kvlite
