// GGUF (versions 2 and 3) reader. Parses the header, metadata and tensor table
// from a ByteSource in small reads, validates everything against the file size,
// and leaves the tensor data where it is: the caller reads each tensor's bytes
// (TensorInfo::offset is absolute) straight into its final place.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "format/byte_source.h"
#include "types/tensor_type.h"
#include "util/status.h"

namespace kvlite {

enum class GgufValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

struct GgufArray;

// One metadata value. Integers of every width are held as int64/uint64,
// floats as double; `type` keeps the type that was on disk.
struct GgufValue {
  GgufValueType type = GgufValueType::UINT8;
  std::variant<uint64_t, int64_t, double, bool, std::string, std::shared_ptr<GgufArray>> v;
};

// Arrays keep their elements in the most compact typed vector: strings in
// `strings`, integers and bools in `ints` (uint64 values above INT64_MAX are
// rejected), floats in `floats`, nested arrays in `arrays`.
struct GgufArray {
  GgufValueType elem_type = GgufValueType::UINT8;
  std::vector<std::string> strings;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<GgufArray> arrays;
  // Elements past the held ones that were let go (keep_first): a loaded
  // model keeps only the head of long arrays such as the vocabulary, which
  // its tokenizer already holds in its own form.
  uint64_t dropped = 0;
  size_t size() const;  // elements held
  void keep_first(size_t n);
};

struct TensorInfo {
  std::string name;
  uint32_t n_dims = 0;
  int64_t ne[4] = {1, 1, 1, 1};  // ne[0] is the row length (innermost)
  uint32_t raw_type = 0;         // GGUF type id
  const TypeTraits* traits = nullptr;  // never null after a successful parse
  uint64_t offset = 0;           // absolute file offset of the first byte
  uint64_t n_bytes = 0;
  int64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
  int64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  uint32_t version = 0;
  uint64_t alignment = 32;
  uint64_t data_offset = 0;   // absolute offset of the tensor data section
  std::vector<std::pair<std::string, GgufValue>> metadata;  // file order
  std::vector<TensorInfo> tensors;                           // file order

  const GgufValue* find(std::string_view key) const;
  const TensorInfo* find_tensor(std::string_view name) const;

  // Typed getters: nullopt-like failure is an error naming the key and what was found.
  Result<std::string> get_string(std::string_view key) const;
  Result<int64_t> get_int(std::string_view key) const;      // any integer type
  Result<double> get_float(std::string_view key) const;     // float or integer types
  Result<bool> get_bool(std::string_view key) const;
  Result<const GgufArray*> get_array(std::string_view key) const;
  // Same with a default when the key is absent (a present key of the wrong type is still an error).
  Result<int64_t> get_int_or(std::string_view key, int64_t fallback) const;
  Result<double> get_float_or(std::string_view key, double fallback) const;
  Result<bool> get_bool_or(std::string_view key, bool fallback) const;
  Result<std::string> get_string_or(std::string_view key, std::string fallback) const;

 private:
  friend Result<GgufFile> parse_gguf(ByteSource& src, const struct GgufLimits& limits);
  std::map<std::string, size_t, std::less<>> key_index_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// Sanity limits that stop a hostile file from making the reader allocate
// absurd amounts before it notices the file is too short.
struct GgufLimits {
  uint64_t max_string_bytes = 64ull << 20;
  uint64_t max_array_elements = 1ull << 26;
  uint64_t max_metadata_entries = 1u << 20;
  uint64_t max_tensors = 1u << 20;
  uint32_t max_array_depth = 8;
};

Result<GgufFile> parse_gguf(ByteSource& src, const GgufLimits& limits = GgufLimits{});

// Human-readable rendering of a value (arrays abbreviated after max_items).
// Elements of an array that format_value shows by default.
constexpr size_t kMetadataItemsShown = 8;
std::string format_value(const GgufValue& value, size_t max_items = kMetadataItemsShown);

}  // namespace kvlite
