// GGUF v3 writer for tests, the model generator and the training exporter.
// Values reuse the reader's GgufValue/GgufArray, so a parsed file's metadata
// can be written back unchanged.
//
//   GgufWriter w;
//   w.set_string("general.architecture", "llama");
//   w.set_u32("llama.block_count", 5);
//   w.set_string_array("tokenizer.ggml.tokens", tokens);
//   KVLITE_TRY(w.add_tensor("token_embd.weight", {64, 512}, TensorType::F32, data, nbytes));
//   KVLITE_TRY(w.write_file(path));   // or: std::vector<uint8_t> bytes = w.write_buffer();
//
// Setting a key twice replaces its value in place. Tensors are laid out in the
// order they were added, each at a multiple of the alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "types/tensor_type.h"
#include "util/status.h"

namespace kvlite {

// Array builders for set_array / nested arrays.
GgufArray gguf_int_array(GgufValueType elem_type, std::vector<int64_t> values);  // integer or BOOL elements
GgufArray gguf_float_array(GgufValueType elem_type, std::vector<double> values);  // FLOAT32 or FLOAT64
GgufArray gguf_string_array(std::vector<std::string> values);
GgufArray gguf_nested_array(std::vector<GgufArray> values);

class GgufWriter {
 public:
  // Fills a tensor's bytes at write time, so a generator never holds the
  // whole model in memory; dst has exactly the tensor's byte size.
  using FillFn = std::function<void(uint8_t* dst, size_t nbytes)>;

  // Version 2 exists only so tests can produce v2 files; the layout is the same.
  void set_version(uint32_t version) { version_ = version; }
  // Writes general.alignment (a non-zero power of two; default 32 when unset).
  Status set_alignment(uint32_t alignment);

  void set_u8(const std::string& key, uint8_t v);
  void set_i8(const std::string& key, int8_t v);
  void set_u16(const std::string& key, uint16_t v);
  void set_i16(const std::string& key, int16_t v);
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_u64(const std::string& key, uint64_t v);
  void set_i64(const std::string& key, int64_t v);
  void set_f32(const std::string& key, float v);
  void set_f64(const std::string& key, double v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, std::string v);
  void set_string_array(const std::string& key, std::vector<std::string> v);
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v);
  void set_u32_array(const std::string& key, const std::vector<uint32_t>& v);
  void set_f32_array(const std::string& key, const std::vector<float>& v);
  void set_array(const std::string& key, GgufArray v);
  // Any value, e.g. one taken from a parsed file.
  void set_value(const std::string& key, GgufValue v);
  void remove(const std::string& key);

  // dims[0] is the row length. Checks the shape against the type and that
  // nbytes is the tensor's exact size; copies the bytes.
  Status add_tensor(const std::string& name, const std::vector<int64_t>& dims, TensorType type, const void* data,
                    size_t nbytes);
  // Same, with the bytes produced by fill when the file is written.
  Status add_tensor(const std::string& name, const std::vector<int64_t>& dims, TensorType type, FillFn fill);
  // No checks at all, any raw type id: for tests that build broken files.
  void add_raw_tensor(const std::string& name, const std::vector<int64_t>& dims, uint32_t raw_type,
                      std::vector<uint8_t> bytes);

  size_t n_tensors() const { return tensors_.size(); }
  // Total file size write_file / write_buffer will produce.
  uint64_t file_size() const;

  Status write_file(const std::string& path) const;
  std::vector<uint8_t> write_buffer() const;

 private:
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> dims;
    uint32_t raw_type = 0;
    uint64_t nbytes = 0;
    std::vector<uint8_t> bytes;  // empty when fill is set
    FillFn fill;
  };
  uint64_t alignment() const;
  std::vector<uint8_t> header_bytes() const;  // through the padding before tensor data
  std::vector<uint64_t> tensor_offsets() const;  // relative to the data section
  Status write_to(const std::function<Status(const void*, size_t)>& sink) const;

  uint32_t version_ = 3;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace kvlite
