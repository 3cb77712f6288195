#include "kernels/kernel_set.h"

#include <atomic>

#include "kernels/ops.h"
#include "kvlite/kvlite.h"

namespace kvlite {

namespace {

KernelSet build_scalar() {
  KernelSet k;
  k.name = "scalar";
  for (uint32_t id = 0; id < KernelSet::kTypeSlots; ++id) {
    const TypeTraits* t = type_traits(id);
    if (!t) continue;
    k.vec_dot[id] = t->vec_dot;
    if (t->type == t->vec_dot_type && t->type != TensorType::F32) k.quantize[id] = t->from_float;
  }
  k.rmsnorm = scalar::rmsnorm;
  k.softmax = scalar::softmax;
  k.swiglu = scalar::swiglu;
  k.geglu = scalar::geglu;
  k.add = scalar::add;
  k.dot_f32 = scalar::dot_f32;
  k.axpy = scalar::axpy;
  k.scale = scalar::scale;
  k.fp16_to_f32_row = scalar::fp16_to_f32_row;
  k.lut16_decode = scalar::lut16_decode;
  k.q4_scores = scalar::q4_scores;
  k.q4_accumulate = scalar::q4_accumulate;
  k.rope_rotate = scalar::rope_rotate;
  return k;
}

std::vector<const KernelSet*> build_available() {
  static const KernelSet scalar = build_scalar();
  std::vector<const KernelSet*> sets{&scalar};
#if defined(__wasm_simd128__)
  static const KernelSet simd128 = make_simd128_kernels(scalar);
  sets.push_back(&simd128);
  if (relaxed_kernels_linked()) {
    static const KernelSet relaxed = make_relaxed_kernels(simd128);
    sets.push_back(&relaxed);
  }
#endif
#if defined(__x86_64__)
  static const KernelSet sse2 = make_sse2_kernels(scalar);
  sets.push_back(&sse2);
  if (cpu_has_avx2_fma()) {
    static const KernelSet avx2 = make_avx2_kernels(scalar);
    sets.push_back(&avx2);
  }
#endif
  return sets;
}

std::atomic<const KernelSet*>& active_slot() {
  static std::atomic<const KernelSet*> slot{available_kernel_sets().back()};
  return slot;
}

}  // namespace

const std::vector<const KernelSet*>& available_kernel_sets() {
  static const std::vector<const KernelSet*> sets = build_available();
  return sets;
}

const KernelSet& scalar_kernels() { return *available_kernel_sets().front(); }

const KernelSet& active_kernels() { return *active_slot().load(std::memory_order_relaxed); }

const char* active_kernel_set_name() { return active_kernels().name; }

void use_kernels(const KernelSet& set) { active_slot().store(&set, std::memory_order_relaxed); }

// ---- ops.h entry points -----------------------------------------------------

void rmsnorm(float* out, const float* x, const float* weight, int64_t n, float eps) {
  active_kernels().rmsnorm(out, x, weight, n, eps);
}
void softmax(float* x, int64_t n) { active_kernels().softmax(x, n); }
void swiglu(float* gate, const float* up, int64_t n) { active_kernels().swiglu(gate, up, n); }
void geglu(float* gate, const float* up, int64_t n) { active_kernels().geglu(gate, up, n); }
void add(float* y, const float* x, int64_t n) { active_kernels().add(y, x, n); }
float dot_f32(const float* a, const float* b, int64_t n) { return active_kernels().dot_f32(a, b, n); }
void axpy(float* y, float a, const float* x, int64_t n) { active_kernels().axpy(y, a, x, n); }
void scale(float* y, float a, int64_t n) { active_kernels().scale(y, a, n); }
void fp16_to_f32_row(const void* halves, float* out, int64_t n) { active_kernels().fp16_to_f32_row(halves, out, n); }
void lut16_decode(const uint8_t* codes, const float* table, const float* scales, float* out, int64_t n) {
  active_kernels().lut16_decode(codes, table, scales, out, n);
}
void q4_scores(const Q4Rows& k, const int8_t* q, const float* q_scale, int32_t n_q, float* out, int64_t out_stride) {
  active_kernels().q4_scores(k, q, q_scale, n_q, out, out_stride);
}
void q4_accumulate(const Q4Rows& v, const float* w, int64_t w_stride, int32_t n_q, float* acc) {
  active_kernels().q4_accumulate(v, w, w_stride, n_q, acc);
}
void rope_rotate(float* x, int32_t n_heads, int32_t head_dim, RopeStyle style, const float* cos, const float* sin) {
  active_kernels().rope_rotate(x, n_heads, head_dim, style, cos, sin);
}

void attend_head(const float* q, const float* keys, const float* values, int64_t stride, int32_t n_pos,
                 int32_t head_dim, float scale_qk, float* scores, float* out) {
  const KernelSet& k = active_kernels();
  for (int32_t p = 0; p < n_pos; ++p) scores[p] = k.dot_f32(q, keys + p * stride, head_dim);
  k.scale(scores, scale_qk, n_pos);
  k.softmax(scores, n_pos);
  for (int32_t i = 0; i < head_dim; ++i) out[i] = 0.0f;
  for (int32_t p = 0; p < n_pos; ++p) k.axpy(out, scores[p], values + p * stride, head_dim);
}

}  // namespace kvlite
