// Storage formats of one head's key or value vector (head_dim floats), one
// table row each: how many bytes a vector takes, how to encode and decode it,
// and which transform the cache applies around the codec. Adding a KV format
// is adding a row here; the cache reads only the table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kvlite/kvlite.h"

namespace kvlite {

// What the cache does to a vector before encoding it (and undoes on the
// query side or after accumulating values), so codecs stay plain.
enum class KvTransform {
  None,
  Hadamard,      // orthonormal Walsh-Hadamard rotation: spreads outlier channels over the block
  ChannelScale,  // divide each channel by its RMS over the first window (keys' outlier channels)
  // q8/q3/q2: Hadamard where blocks carry a one-byte scale (head dim < 16),
  // nothing where they carry llama.cpp's signed fp16 scale, which keeps the
  // largest value exact (docs/kv-quality.md).
  HadamardSmallBlocks,
};

struct KvFormatTraits {
  KvType type;
  const char* name;     // CLI spelling: "q4"
  int32_t bits;         // bits per value before scales (32 for f32)
  KvTransform transform;
  // Bytes of one head vector of d values, every scale included.
  size_t (*vector_bytes)(int32_t d);
  void (*encode)(const float* x, int32_t d, uint8_t* dst);
  void (*decode)(const uint8_t* src, int32_t d, float* out);
};

const KvFormatTraits& kv_format(KvType type);

// The 4-bit formats' levels as integers: code c in a block whose scale byte
// is b decodes to levels[c] * step * byte_scales[b].
struct KvQ4Codebook {
  const int8_t* levels;  // 16 levels, |level| <= 127
  float step;
  const float* byte_scales;  // 256 scales, indexed by a scale byte
};
// Where `type` stores a head vector of d values as one scale byte per 16
// values and nibbles on these levels (the 4-bit formats at d a multiple of
// 16), their codebook, so attention can work on the codes; otherwise null.
const KvQ4Codebook* kv_q4_codebook(KvType type, int32_t d);

// The largest head dimension the attention's stack buffers take.
constexpr int32_t kKvMaxHeadDim = 512;

// In place, orthonormal (so self-inverse) Walsh-Hadamard transform of n
// values; n must be a power of two.
void hadamard_rotate(float* x, int32_t n);
bool is_power_of_two(int32_t n);

}  // namespace kvlite
