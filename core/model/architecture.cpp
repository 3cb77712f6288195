#include "model/architecture.h"

namespace kvlite {

namespace {

// Mistral and SmolLM files are llama ones; Qwen2.5 files are qwen2 ones.
constexpr Architecture kArchitectures[] = {
    {.name = "llama", .rope = RopeStyle::Adjacent},
    {.name = "qwen2", .rope = RopeStyle::NeoX, .qkv_bias = true},
    {.name = "qwen3", .rope = RopeStyle::NeoX, .qk_norm = true},
    {.name = "phi3", .rope = RopeStyle::NeoX, .fused = true},
    {.name = "gemma2", .rope = RopeStyle::NeoX, .post_norms = true, .embed_scale = true, .gelu = true,
     .swa_period = 2},
    {.name = "gemma3", .rope = RopeStyle::NeoX, .qk_norm = true, .post_norms = true, .embed_scale = true,
     .gelu = true, .swa_period = 6},
};

}  // namespace

const Architecture* find_architecture(std::string_view name) {
  for (const Architecture& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string supported_architectures() {
  std::string out;
  for (const Architecture& a : kArchitectures) out += (out.empty() ? "" : ", ") + std::string(a.name);
  return out;
}

}  // namespace kvlite
