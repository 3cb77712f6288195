// Layout conformance against llama.cpp's own files: every tensor of each
// synth-llama-<TYPE>.gguf (written by llama-quantize) is dequantized and
// compared with the same tensor of synth-llama-F32.gguf. A wrong nibble order,
// bit position or scale packing gives errors near or above 100%, far past
// these bounds, which sit a little above what correct decoding measures.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "format/byte_source.h"
#include "format/gguf.h"
#include "support/paths.h"
#include "types/tensor_type.h"

namespace kvlite {
namespace {

struct OpenModel {
  std::unique_ptr<ByteSource> source;
  GgufFile file;
};

// Opens and parses a GGUF file; failures are reported through gtest.
bool open_model(const std::string& path, OpenModel* out) {
  Result<std::unique_ptr<ByteSource>> src = open_file_source(path);
  if (!src.ok()) {
    ADD_FAILURE() << path << ": " << src.message();
    return false;
  }
  out->source = std::move(src.value());
  Result<GgufFile> file = parse_gguf(*out->source);
  if (!file.ok()) {
    ADD_FAILURE() << path << ": " << file.message();
    return false;
  }
  out->file = std::move(file.value());
  return true;
}

std::vector<uint8_t> read_tensor(OpenModel& model, const TensorInfo& t) {
  std::vector<uint8_t> bytes(t.n_bytes);
  const Status read = model.source->read(t.offset, bytes.data(), bytes.size());
  EXPECT_TRUE(read.ok()) << t.name << ": " << read.message();
  return bytes;
}

std::vector<float> dequantize(const TensorInfo& t, const std::vector<uint8_t>& bytes) {
  std::vector<float> values(static_cast<size_t>(t.n_elements()));
  t.traits->to_float(bytes.data(), values.data(), t.n_elements());
  return values;
}

double relative_rms_error(const std::vector<float>& got, const std::vector<float>& want) {
  double err2 = 0, ref2 = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    err2 += double(got[i] - want[i]) * double(got[i] - want[i]);
    ref2 += double(want[i]) * double(want[i]);
  }
  return ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
}

// Upper bounds on relative RMS error per tensor type, set just above the worst
// tensor measured over all files (see the printed table): tight enough that
// decoding with any wrong bit position fails.
const std::map<std::string, double> kMaxRelativeRms = {
    {"F32", 0.0},     {"F16", 0.0003},  {"BF16", 0.002},  {"Q8_0", 0.006},
    {"Q6_K", 0.02},   {"Q5_1", 0.042},  {"Q5_0", 0.047},  {"Q5_K", 0.04},
    {"Q4_1", 0.087},  {"Q4_0", 0.095},  {"IQ4_NL", 0.085}, {"Q4_K", 0.08},
    {"Q3_K", 0.167},  {"Q2_K", 0.33},
};

// Activations for the dot-product check, in the row's vec_dot_type, and the
// values they decode to.
struct Activations {
  std::vector<uint8_t> packed;
  std::vector<float> values;
};

Activations make_activations(const TypeTraits& act, int64_t n) {
  std::vector<float> a(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) a[i] = std::sin(0.37f * float(i)) + 0.25f;
  Activations out{std::vector<uint8_t>(row_bytes(act, n)), std::vector<float>(a.size())};
  act.from_float(a.data(), out.packed.data(), n);
  act.to_float(out.packed.data(), out.values.data(), n);
  return out;
}

// vec_dot on llama.cpp's own blocks (the first rows of a tensor) against the
// double dot of the dequantized row and the dequantized activations.
void check_vec_dot_rows(const TensorInfo& t, const std::vector<uint8_t>& bytes,
                        const std::vector<float>& values) {
  const TypeTraits& w = *t.traits;
  const int64_t n = t.ne[0];
  const Activations a = make_activations(*type_traits(w.vec_dot_type), n);
  const bool uses_s = w.vec_dot_type == TensorType::Q8_1;  // fp16-rounded d*sum(q)
  for (int64_t r = 0; r < std::min<int64_t>(t.n_rows(), 4); ++r) {
    double exact = 0, magnitude = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double p = double(values[size_t(r * n + i)]) * double(a.values[size_t(i)]);
      exact += p;
      magnitude += std::fabs(p);
    }
    const float got = w.vec_dot(n, bytes.data() + r * row_bytes(w, n), a.packed.data());
    EXPECT_NEAR(got, exact, (uses_s ? 2e-3 : 2e-5) * magnitude + 1e-6) << "row " << r;
  }
}

class SyntheticTypes : public ::testing::TestWithParam<const char*> {};

TEST_P(SyntheticTypes, DequantizedTensorsMatchTheF32Model) {
  const std::string type = GetParam();
  KVLITE_REQUIRE_SHARED(ref_path, "reference/synthetic/synth-llama-F32.gguf");
  KVLITE_REQUIRE_SHARED(path, "reference/synthetic/synth-llama-" + type + ".gguf");
  OpenModel ref, model;
  ASSERT_TRUE(open_model(ref_path, &ref));
  ASSERT_TRUE(open_model(path, &model));
  std::map<std::string, double> worst;  // per tensor type
  for (const TensorInfo& t : model.file.tensors) {
    SCOPED_TRACE(t.name + " (" + t.traits->name + ")");
    const TensorInfo* r = ref.file.find_tensor(t.name);
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(r->n_elements(), t.n_elements());
    const std::vector<uint8_t> bytes = read_tensor(model, t);
    const std::vector<float> values = dequantize(t, bytes);
    const double err = relative_rms_error(values, dequantize(*r, read_tensor(ref, *r)));
    check_vec_dot_rows(t, bytes, values);
    const auto bound = kMaxRelativeRms.find(t.traits->name);
    ASSERT_NE(bound, kMaxRelativeRms.end());
    EXPECT_LE(err, bound->second);
    worst[t.traits->name] = std::max(worst[t.traits->name], err);
  }
  for (const auto& [name, err] : worst) {
    std::printf("  synth-llama-%-7s %-6s worst relative RMS error %.5f\n", type.c_str(), name.c_str(), err);
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, SyntheticTypes,
                         ::testing::Values("F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                           "IQ4_NL", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param);
                         });

}  // namespace
}  // namespace kvlite
