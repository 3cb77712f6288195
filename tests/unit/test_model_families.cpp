// The model families on generated models (no shared files needed): every
// architecture runs batched and token by token alike, through a compressed
// cache close to the plain one; sliding-window layers forget what lies
// outside their window; soft-capped logits stay under the cap; llama3 RoPE
// scaling follows its published rule, from metadata or from a rope_freqs
// tensor; LongRoPE (Phi-3.5) picks its short or long factors by context and
// scales q and k by its attention factor. Conformance with llama.cpp is in tests/integration/test_model_shared.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>
#include <string>
#include <vector>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "kvlite/kvlite.h"
#include "model/model.h"
#include "support/edit_gguf.h"
#include "support/temp_dir.h"

namespace kvlite {
namespace {

const std::vector<std::string> kArchitectures = {"llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"};

std::shared_ptr<Model> load(const std::string& path) {
  auto m = Model::load_file(path);
  EXPECT_TRUE(m.ok()) << m.message();
  return m.ok() ? m.value() : nullptr;
}

std::shared_ptr<Model> make_model(test::TempDir& dir, const RandomModelSpec& spec, const test::GgufEdit& edit = {}) {
  const std::string path = dir.path(spec.architecture + ".gguf");
  EXPECT_TRUE(write_random_model(spec, path).ok());
  if (!edit) return load(path);
  EXPECT_TRUE(test::rewrite_gguf(path, dir.path("edited.gguf"), edit).ok());
  return load(dir.path("edited.gguf"));
}

// Token ids from the generated vocabulary's letters and merges (259..294).
std::vector<int32_t> some_tokens(int32_t n, int32_t salt = 0) {
  std::vector<int32_t> ids = {1};
  for (int32_t i = 1; i < n; ++i) ids.push_back(259 + (i * 7 + salt * 13) % 36);
  return ids;
}

// Logits after each token, fed one at a time (or all at once when batched).
std::vector<std::vector<float>> run(const std::shared_ptr<Model>& model, const std::vector<int32_t>& ids,
                                    const KvConfig& kv = {}, bool batched = false) {
  SessionParams params;
  params.n_ctx = 64;
  params.kv = kv;
  auto s = Session::create(model, params);
  EXPECT_TRUE(s.ok()) << s.message();
  std::vector<std::vector<float>> out;
  if (batched) {
    EXPECT_TRUE(s.value()->eval(ids, true).ok());
    for (size_t i = 0; i < ids.size(); ++i) {
      auto l = s.value()->logits(int32_t(i));
      out.emplace_back(l.begin(), l.end());
    }
    return out;
  }
  for (int32_t id : ids) {
    EXPECT_TRUE(s.value()->eval(std::span<const int32_t>(&id, 1)).ok());
    auto l = s.value()->logits();
    out.emplace_back(l.begin(), l.end());
  }
  return out;
}

float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

RandomModelSpec spec_for(const std::string& arch) {
  RandomModelSpec spec;
  spec.architecture = arch;
  spec.sliding_window = 4;  // read only by architectures with local layers (gemma2, gemma3)
  return spec;
}

class Family : public ::testing::TestWithParam<std::string> {};

TEST_P(Family, BatchedAndTokenByTokenAgree) {
  test::TempDir dir;
  auto model = make_model(dir, spec_for(GetParam()));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->info().architecture, GetParam());
  const std::vector<int32_t> ids = some_tokens(12);
  const auto one_by_one = run(model, ids);
  const auto batched = run(model, ids, {}, true);
  for (size_t i = 0; i < ids.size(); ++i) {
    for (float x : one_by_one[i]) ASSERT_TRUE(std::isfinite(x)) << "position " << i;
    EXPECT_LT(max_diff(one_by_one[i], batched[i]), 1e-4f) << "position " << i;
  }
}

// F16 keys and values outside a 2-token window take the cache's general
// attention path (window and compressed slots, masked per sliding-window
// layer): it must agree with the plain path up to F16 rounding.
TEST_P(Family, CompressedCacheFollowsThePlainOne) {
  test::TempDir dir;
  auto model = make_model(dir, spec_for(GetParam()));
  ASSERT_TRUE(model);
  KvConfig kv;
  kv.k_type = KvType::F16;
  kv.v_type = KvType::F16;
  kv.window = 2;
  kv.sinks = 1;
  const std::vector<int32_t> ids = some_tokens(16);
  const auto plain = run(model, ids);
  const auto compressed = run(model, ids, kv);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_LT(max_diff(plain[i], compressed[i]), 2e-3f) << "position " << i;
}

INSTANTIATE_TEST_SUITE_P(All, Family, ::testing::ValuesIn(kArchitectures),
                         [](const auto& info) { return info.param; });

// Two gemma3 layers, both local with window 4 (the default period 6 makes
// layers 0-4 of every 6 local): the last of 12 tokens sees at most the 7
// before it, so changing the second token leaves its logits exactly as they
// were; without the window it changes them.
TEST(SlidingWindow, OldTokensOutsideTheWindowDoNotMatter) {
  for (bool compressed : {false, true}) {
    SCOPED_TRACE(compressed ? "F16 cache, window 2" : "plain cache");
    KvConfig kv;
    if (compressed) kv.k_type = kv.v_type = KvType::F16, kv.window = 2, kv.sinks = 1;
    test::TempDir dir;
    auto local = make_model(dir, spec_for("gemma3"));
    ASSERT_TRUE(local);
    const std::vector<int32_t> a = some_tokens(12);
    std::vector<int32_t> b = a;
    b[1] = a[1] + 1;
    EXPECT_LT(max_diff(run(local, a, kv).back(), run(local, b, kv).back()), 1e-6f);

    RandomModelSpec global_spec = spec_for("gemma3");
    global_spec.sliding_window = 0;
    test::TempDir dir2;
    auto global = make_model(dir2, global_spec);
    ASSERT_TRUE(global);
    EXPECT_GT(max_diff(run(global, a, kv).back(), run(global, b, kv).back()), 1e-3f);
  }
}

TEST(SlidingWindow, PatternKeyChoosesTheLocalLayers) {
  test::TempDir dir;
  RandomModelSpec spec = spec_for("gemma3");
  spec.n_layer = 4;
  const std::string path = dir.path("m.gguf");
  ASSERT_TRUE(write_random_model(spec, path).ok());
  ASSERT_TRUE(test::rewrite_gguf(path, dir.path("p.gguf"), [](GgufWriter& w, auto&) {
                w.set_u32("gemma3.attention.sliding_window_pattern", 2);
              }).ok());
  auto model = load(dir.path("p.gguf"));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->impl().hp.layer_window, (std::vector<int32_t>{4, 0, 4, 0}));
  auto by_default = load(path);
  ASSERT_TRUE(by_default);
  EXPECT_EQ(by_default->impl().hp.layer_window, (std::vector<int32_t>{4, 4, 4, 4}));
}

TEST(SoftCap, FinalLogitsStayUnderTheCap) {
  test::TempDir dir;
  auto plain = make_model(dir, spec_for("gemma2"));
  ASSERT_TRUE(plain);
  float plain_max = 0;
  const auto plain_logits = run(plain, some_tokens(6));
  for (float x : plain_logits.back()) plain_max = std::max(plain_max, std::fabs(x));
  const float cap = plain_max / 4;
  auto capped = make_model(dir, spec_for("gemma2"),
                           [&](GgufWriter& w, auto&) { w.set_f32("gemma2.final_logit_softcapping", cap); });
  ASSERT_TRUE(capped);
  const auto logits = run(capped, some_tokens(6)).back();
  float capped_max = 0;
  for (float x : logits) capped_max = std::max(capped_max, std::fabs(x));
  EXPECT_LE(capped_max, cap);
  EXPECT_GT(capped_max, 0.5f * cap);  // still informative, not flattened to zero
}

// Meta's published rule, written here as new frequencies (not divisors) to
// check the engine's version independently.
std::vector<double> llama3_frequencies(int32_t head_dim, double theta, double factor, double low, double high,
                                       double original_ctx) {
  std::vector<double> out;
  for (int32_t i = 0; i < head_dim; i += 2) {
    const double freq = 1.0 / std::pow(theta, double(i) / head_dim);
    const double wavelen = 2 * std::numbers::pi / freq;
    if (wavelen < original_ctx / high) {
      out.push_back(freq);
    } else if (wavelen > original_ctx / low) {
      out.push_back(freq / factor);
    } else {
      const double smooth = (original_ctx / wavelen - low) / (high - low);
      out.push_back((1 - smooth) * freq / factor + smooth * freq);
    }
  }
  return out;
}

TEST(Llama3Rope, FactorsFollowThePublishedRule) {
  // Llama 3.2's values: head dim 64, theta 500000, factor 32, 1 / 4, 8192.
  const std::vector<float> factors = llama3_rope_factors(64, 500000.0f, 32.0f, 1.0f, 4.0f, 8192.0f);
  const std::vector<double> freqs = llama3_frequencies(64, 500000.0, 32.0, 1.0, 4.0, 8192.0);
  ASSERT_EQ(factors.size(), freqs.size());
  int kept = 0, divided = 0, blended = 0;
  for (size_t i = 0; i < freqs.size(); ++i) {
    const double freq = std::pow(500000.0, -2.0 * double(i) / 64);
    EXPECT_NEAR(freq / factors[i], freqs[i], 1e-6 * freqs[i]) << "frequency " << i;
    kept += factors[i] == 1.0f;
    divided += factors[i] == 32.0f;
    blended += factors[i] > 1.0f && factors[i] < 32.0f;
  }
  // All three regimes occur at these settings, so each branch was checked.
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(blended, 0);
}

// rope.scaling.type llama3 in the metadata and the same divisors as a
// rope_freqs tensor (how llama.cpp's converter writes Llama 3.x files) give
// the same logits; both differ from the unscaled model past position 0.
TEST(Llama3Rope, MetadataAndTensorAgreeAndScalingMatters) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.rope_theta = 500000.0f;
  spec.n_ctx = 64;
  const std::string path = dir.path("base.gguf");
  ASSERT_TRUE(write_random_model(spec, path).ok());
  const int32_t head_dim = spec.n_embd / spec.n_head;
  // A short original context puts this small head's frequencies in all three regimes.
  auto scaled_keys = [](GgufWriter& w) {
    w.set_string("llama.rope.scaling.type", "llama3");
    w.set_f32("llama.rope.scaling.factor", 8.0f);
    w.set_f32("llama.rope.scaling.low_freq_factor", 1.0f);
    w.set_f32("llama.rope.scaling.high_freq_factor", 4.0f);
    w.set_u32("llama.rope.scaling.original_context_length", 64);
  };
  ASSERT_TRUE(test::rewrite_gguf(path, dir.path("meta.gguf"), [&](GgufWriter& w, auto&) { scaled_keys(w); }).ok());
  const std::vector<double> freqs = llama3_frequencies(head_dim, 500000.0, 8.0, 1.0, 4.0, 64.0);
  std::vector<uint8_t> bytes(freqs.size() * sizeof(float));
  for (size_t i = 0; i < freqs.size(); ++i) {
    const float divisor = float(std::pow(500000.0, -2.0 * double(i) / head_dim) / freqs[i]);
    std::memcpy(bytes.data() + i * sizeof(float), &divisor, sizeof(float));
  }
  ASSERT_TRUE(test::rewrite_gguf(path, dir.path("tensor.gguf"), [&](GgufWriter& w, auto&) {
                w.add_raw_tensor("rope_freqs.weight", {int64_t(freqs.size())}, 0 /* F32 */, bytes);
              }).ok());
  auto base = load(path), meta = load(dir.path("meta.gguf")), tensor = load(dir.path("tensor.gguf"));
  ASSERT_TRUE(base && meta && tensor);
  const std::vector<int32_t> ids = some_tokens(10);
  const auto b = run(base, ids), m = run(meta, ids), t = run(tensor, ids);
  EXPECT_LT(max_diff(b[0], m[0]), 1e-6f);  // position 0: no rotation at all
  float scaling_effect = 0;
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_LT(max_diff(m[i], t[i]), 1e-4f) << "position " << i;
    scaling_effect = std::max(scaling_effect, max_diff(b[i], m[i]));
  }
  EXPECT_GT(scaling_effect, 1e-2f);
}

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> bytes(v.size() * sizeof(float));
  std::memcpy(bytes.data(), v.data(), bytes.size());
  return bytes;
}

// A phi3 file with LongRoPE tensors and an attention factor must compute
// what a plain phi3 file computes with the chosen factors as rope_freqs and
// its q and k rows scaled by the factor (RoPE is linear, so scaling before
// or after the rotation is the same): short factors while the session's
// context fits the original one, long ones past it.
TEST(LongRope, ShortOrLongFactorsByContextAndTheAttentionFactor) {
  test::TempDir dir;
  RandomModelSpec spec;
  spec.architecture = "phi3";
  const std::string path = dir.path("base.gguf");
  ASSERT_TRUE(write_random_model(spec, path).ok());
  const int32_t half = spec.n_embd / spec.n_head / 2;
  const int64_t qk_rows = spec.n_embd + spec.n_embd / spec.n_head * spec.n_head_kv;
  std::vector<float> short_f(static_cast<size_t>(half)), long_f(static_cast<size_t>(half));
  for (int32_t i = 0; i < half; ++i) short_f[size_t(i)] = 1.0f + 0.5f * float(i), long_f[size_t(i)] = 2.0f + 3.0f * float(i);
  const float attn_factor = 1.25f;

  auto longrope = [&](const std::string& name, uint32_t original_ctx) {
    EXPECT_TRUE(test::rewrite_gguf(path, dir.path(name), [&](GgufWriter& w, auto&) {
                  w.set_string("phi3.rope.scaling.type", "longrope");
                  w.set_f32("phi3.rope.scaling.attn_factor", attn_factor);
                  w.set_u32("phi3.rope.scaling.original_context_length", original_ctx);
                  w.add_raw_tensor("rope_factors_short.weight", {half}, 0 /* F32 */, f32_bytes(short_f));
                  w.add_raw_tensor("rope_factors_long.weight", {half}, 0, f32_bytes(long_f));
                }).ok());
    return load(dir.path(name));
  };
  auto equivalent = [&](const std::string& name, const std::vector<float>& factors) {
    auto src = open_file_source(path);
    auto gguf = parse_gguf(*src.value());
    const TensorInfo* qkv = gguf.value().find_tensor("blk.0.attn_qkv.weight");
    EXPECT_TRUE(test::rewrite_gguf(path, dir.path(name), [&](GgufWriter& w, auto& tensors) {
                  w.add_raw_tensor("rope_freqs.weight", {half}, 0, f32_bytes(factors));
                  for (int32_t l = 0; l < spec.n_layer; ++l) {
                    const std::string tname = "blk." + std::to_string(l) + ".attn_qkv.weight";
                    const TensorInfo* t = gguf.value().find_tensor(tname);
                    std::vector<float> values(size_t(t->n_elements()));
                    EXPECT_TRUE(src.value()->read(t->offset, values.data(), values.size() * sizeof(float)).ok());
                    for (int64_t i = 0; i < qk_rows * spec.n_embd; ++i) values[size_t(i)] *= attn_factor;
                    std::erase_if(tensors, [&](const TensorInfo* x) { return x->name == tname; });
                    w.add_raw_tensor(tname, {t->ne[0], t->ne[1]}, 0, f32_bytes(values));
                  }
                }).ok());
    EXPECT_NE(qkv, nullptr);
    return load(dir.path(name));
  };
  // run() gives sessions a 64-token context.
  auto within = longrope("within.gguf", 64), past = longrope("past.gguf", 32);
  auto with_short = equivalent("short.gguf", short_f), with_long = equivalent("long.gguf", long_f);
  ASSERT_TRUE(within && past && with_short && with_long);
  const std::vector<int32_t> ids = some_tokens(10);
  const auto a = run(within, ids), b = run(with_short, ids), c = run(past, ids), d = run(with_long, ids);
  float short_vs_long = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_LT(max_diff(a[i], b[i]), 1e-4f) << "position " << i;
    EXPECT_LT(max_diff(c[i], d[i]), 1e-4f) << "position " << i;
    short_vs_long = std::max(short_vs_long, max_diff(a[i], c[i]));
  }
  EXPECT_GT(short_vs_long, 1e-2f);
}

}  // namespace
}  // namespace kvlite
