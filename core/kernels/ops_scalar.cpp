#include <cmath>
#include <cstring>
#include <iterator>

#include "kernels/ops.h"
#include "util/fp16.h"

namespace kvlite::scalar {

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  double sum = 0;  // double: a long row of squares loses digits in float
  for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * x[i];
  const float scale = float(1.0 / std::sqrt(sum / double(n) + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

void softmax(float* x, int64_t n) {
  float max = x[0];
  for (int64_t i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void swiglu(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void geglu(float* gate, const float* up, int64_t n) {
  const float k = std::sqrt(2.0f / 3.14159265358979f);
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = 0.5f * g * (1.0f + std::tanh(k * (g + 0.044715f * g * g * g))) * up[i];
  }
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

float dot_f32(const float* a, const float* b, int64_t n) {
  float sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy(float* y, float a, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void scale(float* y, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= a;
}

void lut16_decode(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n) {
  for (int64_t j = 0; j < n; j += 2) {
    const float s = scales[j / 16];
    out[j] = table[codes[j / 2] & 15] * s;
    out[j + 1] = table[codes[j / 2] >> 4] * s;
  }
}

namespace {
int32_t q4_code(const uint8_t* codes, int32_t j) { return (codes[j / 2] >> (4 * (j & 1))) & 15; }
}  // namespace

void q4_scores(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out, int64_t out_stride) {
  const int32_t d = k.d, nb = d / 16;
  for (int64_t r = 0; r < k.n; ++r) {
    const uint8_t* row = k.data + size_t(r) * k.row_bytes;
    const uint8_t* codes = row + nb;
    for (int32_t h = 0; h < n_q; ++h) {
      const int8_t* qh = q + int64_t(h) * d;
      float acc = 0.0f;
      for (int32_t b = 0; b < nb; ++b) {
        int32_t sum = 0;
        for (int32_t j = b * 16; j < b * 16 + 16; ++j) sum += int32_t(qh[j]) * k.levels[q4_code(codes, j)];
        acc += k.scales[row[b]] * float(sum);
      }
      out[int64_t(h) * out_stride + r] = q_scale[h] * acc;
    }
  }
}

void q4_accumulate(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc) {
  const int32_t d = v.d, nb = d / 16;
  for (int64_t r = 0; r < v.n; ++r) {
    const uint8_t* row = v.data + size_t(r) * v.row_bytes;
    const uint8_t* codes = row + nb;
    for (int32_t h = 0; h < n_q; ++h) {
      float* a = acc + int64_t(h) * d;
      for (int32_t b = 0; b < nb; ++b) {
        const float wb = w[int64_t(h) * w_stride + r] * v.scales[row[b]];
        for (int32_t j = b * 16; j < b * 16 + 16; ++j) a[j] += wb * float(v.levels[q4_code(codes, j)]);
      }
    }
  }
}

void fp16_to_f32_row(const void* halves, float* out, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(halves);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    out[i] = fp16_to_f32(h);
  }
}

}  // namespace kvlite::scalar

namespace kvlite {

RopeTable make_rope_table(int32_t head_dim, float theta, RopeStyle style, float freq_scale,
                          const std::vector<float>& factors) {
  RopeTable t;
  t.head_dim = head_dim;
  t.style = style;
  for (int32_t i = 0; i < head_dim / 2; ++i) {
    const double divisor = factors.empty() ? 1.0 : double(factors[size_t(i)]);
    t.inv_freq[i] = float(freq_scale * std::pow(double(theta), -2.0 * i / head_dim) / divisor);
  }
  return t;
}

// The angles once per call (they depend on the position only), then the
// rotation by the active kernel set.
void rope(float* x, int32_t n_heads, const RopeTable& t, int32_t pos) {
  const int32_t half = t.head_dim / 2;
  float c[std::size(RopeTable{}.inv_freq)], s[std::size(RopeTable{}.inv_freq)];
  for (int32_t i = 0; i < half; ++i) {
    const float angle = float(pos) * t.inv_freq[i];
    c[i] = std::cos(angle);
    s[i] = std::sin(angle);
  }
  rope_rotate(x, n_heads, t.head_dim, t.style, c, s);
}

namespace scalar {

void rope_rotate(float* x, int32_t n_heads, int32_t d, RopeStyle style, const float* cos, const float* sin) {
  const int32_t half = d / 2;
  for (int32_t h = 0; h < n_heads; ++h) {
    float* head = x + int64_t(h) * d;
    for (int32_t i = 0; i < half; ++i) {
      const int32_t a = style == RopeStyle::Adjacent ? 2 * i : i;
      const int32_t b = style == RopeStyle::Adjacent ? 2 * i + 1 : i + half;
      const float x0 = head[a], x1 = head[b];
      head[a] = x0 * cos[i] - x1 * sin[i];
      head[b] = x0 * sin[i] + x1 * cos[i];
    }
  }
}

}  // namespace scalar

}  // namespace kvlite
