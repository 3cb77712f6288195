#include "format/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

namespace kvlite {
namespace {

constexpr uint32_t kDefaultAlignment = 32;

using Bytes = std::vector<uint8_t>;

template <class T>
void put(Bytes& out, T v) {
  uint8_t raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof(T));
  out.insert(out.end(), raw, raw + sizeof(T));
}

void put_string(Bytes& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// Integers are kept widened (see GgufValue); narrowing back to the declared
// width happens only here, when the value is written.
void put_integer(Bytes& out, GgufValueType type, uint64_t bits) {
  switch (type) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: put(out, uint8_t(bits)); break;
    case GgufValueType::UINT16: case GgufValueType::INT16: put(out, uint16_t(bits)); break;
    case GgufValueType::UINT32: case GgufValueType::INT32: put(out, uint32_t(bits)); break;
    default: put(out, bits); break;
  }
}

void put_float(Bytes& out, GgufValueType type, double v) {
  if (type == GgufValueType::FLOAT32) {
    put(out, float(v));
  } else {
    put(out, v);
  }
}

bool is_float(GgufValueType t) { return t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64; }

void put_array_body(Bytes& out, const GgufArray& a) {
  put<uint32_t>(out, uint32_t(a.elem_type));
  put<uint64_t>(out, a.size());
  if (a.elem_type == GgufValueType::STRING) {
    for (const std::string& s : a.strings) put_string(out, s);
  } else if (a.elem_type == GgufValueType::ARRAY) {
    for (const GgufArray& inner : a.arrays) put_array_body(out, inner);
  } else if (is_float(a.elem_type)) {
    for (double f : a.floats) put_float(out, a.elem_type, f);
  } else {
    for (int64_t i : a.ints) put_integer(out, a.elem_type, uint64_t(i));
  }
}

// The value's payload after its type tag; tolerates a variant alternative
// that does not match the tag (e.g. a UINT32 held as int64).
void put_value_body(Bytes& out, const GgufValue& v) {
  if (auto* s = std::get_if<std::string>(&v.v)) return put_string(out, *s);
  if (auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v.v)) return put_array_body(out, *a ? **a : GgufArray{});
  if (auto* f = std::get_if<double>(&v.v)) {
    if (is_float(v.type)) return put_float(out, v.type, *f);
    return put_integer(out, v.type, uint64_t(int64_t(*f)));
  }
  uint64_t bits = 0;
  if (auto* u = std::get_if<uint64_t>(&v.v)) bits = *u;
  if (auto* i = std::get_if<int64_t>(&v.v)) bits = uint64_t(*i);
  if (auto* b = std::get_if<bool>(&v.v)) bits = *b ? 1 : 0;
  if (is_float(v.type)) return put_float(out, v.type, double(int64_t(bits)));
  put_integer(out, v.type, bits);
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

GgufValue scalar(GgufValueType type, uint64_t u) { return GgufValue{type, u}; }
GgufValue scalar(GgufValueType type, int64_t i) { return GgufValue{type, i}; }
GgufValue scalar(GgufValueType type, double f) { return GgufValue{type, f}; }

Status check_shape(const std::string& name, const std::vector<int64_t>& dims, TensorType type, uint64_t& nbytes) {
  const TypeTraits* traits = type_traits(type);
  const std::string where = "tensor '" + name + "': ";
  if (!traits) return Status::Error(where + "unknown tensor type " + std::to_string(uint32_t(type)));
  if (dims.empty() || dims.size() > 4) return Status::Error(where + "needs 1 to 4 dimensions");
  uint64_t rows = 1;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] < 1) return Status::Error(where + "dimension " + std::to_string(d) + " is below 1");
    if (d > 0 && __builtin_mul_overflow(rows, uint64_t(dims[d]), &rows)) {
      return Status::Error(where + "too many rows");
    }
  }
  if (dims[0] % traits->block_size != 0) {
    return Status::Error(where + "row length " + std::to_string(dims[0]) + " is not a multiple of " +
                         traits->name + "'s block size " + std::to_string(traits->block_size));
  }
  const uint64_t row = uint64_t(dims[0] / traits->block_size) * traits->block_bytes;
  if (__builtin_mul_overflow(row, rows, &nbytes)) return Status::Error(where + "byte size overflows");
  return Status::Ok();
}

}  // namespace

GgufArray gguf_int_array(GgufValueType elem_type, std::vector<int64_t> values) {
  GgufArray a;
  a.elem_type = elem_type;
  a.ints = std::move(values);
  return a;
}

GgufArray gguf_float_array(GgufValueType elem_type, std::vector<double> values) {
  GgufArray a;
  a.elem_type = elem_type;
  a.floats = std::move(values);
  return a;
}

GgufArray gguf_string_array(std::vector<std::string> values) {
  GgufArray a;
  a.elem_type = GgufValueType::STRING;
  a.strings = std::move(values);
  return a;
}

GgufArray gguf_nested_array(std::vector<GgufArray> values) {
  GgufArray a;
  a.elem_type = GgufValueType::ARRAY;
  a.arrays = std::move(values);
  return a;
}

Status GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return Status::Error("alignment " + std::to_string(alignment) + " is not a non-zero power of two");
  }
  set_u32("general.alignment", alignment);
  return Status::Ok();
}

void GgufWriter::set_u8(const std::string& key, uint8_t v) { set_value(key, scalar(GgufValueType::UINT8, uint64_t(v))); }
void GgufWriter::set_i8(const std::string& key, int8_t v) { set_value(key, scalar(GgufValueType::INT8, int64_t(v))); }
void GgufWriter::set_u16(const std::string& key, uint16_t v) { set_value(key, scalar(GgufValueType::UINT16, uint64_t(v))); }
void GgufWriter::set_i16(const std::string& key, int16_t v) { set_value(key, scalar(GgufValueType::INT16, int64_t(v))); }
void GgufWriter::set_u32(const std::string& key, uint32_t v) { set_value(key, scalar(GgufValueType::UINT32, uint64_t(v))); }
void GgufWriter::set_i32(const std::string& key, int32_t v) { set_value(key, scalar(GgufValueType::INT32, int64_t(v))); }
void GgufWriter::set_u64(const std::string& key, uint64_t v) { set_value(key, scalar(GgufValueType::UINT64, v)); }
void GgufWriter::set_i64(const std::string& key, int64_t v) { set_value(key, scalar(GgufValueType::INT64, v)); }
void GgufWriter::set_f32(const std::string& key, float v) { set_value(key, scalar(GgufValueType::FLOAT32, double(v))); }
void GgufWriter::set_f64(const std::string& key, double v) { set_value(key, scalar(GgufValueType::FLOAT64, v)); }
void GgufWriter::set_bool(const std::string& key, bool v) { set_value(key, GgufValue{GgufValueType::BOOL, v}); }
void GgufWriter::set_string(const std::string& key, std::string v) {
  set_value(key, GgufValue{GgufValueType::STRING, std::move(v)});
}

void GgufWriter::set_string_array(const std::string& key, std::vector<std::string> v) {
  set_array(key, gguf_string_array(std::move(v)));
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
  set_array(key, gguf_int_array(GgufValueType::INT32, std::vector<int64_t>(v.begin(), v.end())));
}

void GgufWriter::set_u32_array(const std::string& key, const std::vector<uint32_t>& v) {
  set_array(key, gguf_int_array(GgufValueType::UINT32, std::vector<int64_t>(v.begin(), v.end())));
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
  set_array(key, gguf_float_array(GgufValueType::FLOAT32, std::vector<double>(v.begin(), v.end())));
}

void GgufWriter::set_array(const std::string& key, GgufArray v) {
  set_value(key, GgufValue{GgufValueType::ARRAY, std::make_shared<GgufArray>(std::move(v))});
}

void GgufWriter::set_value(const std::string& key, GgufValue v) {
  for (auto& kv : metadata_) {
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  }
  metadata_.emplace_back(key, std::move(v));
}

void GgufWriter::remove(const std::string& key) {
  metadata_.erase(std::remove_if(metadata_.begin(), metadata_.end(), [&](const auto& kv) { return kv.first == key; }),
                  metadata_.end());
}

Status GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& dims, TensorType type,
                              const void* data, size_t nbytes) {
  uint64_t expected = 0;
  KVLITE_TRY(check_shape(name, dims, type, expected));
  if (nbytes != expected) {
    return Status::Error("tensor '" + name + "': got " + std::to_string(nbytes) + " bytes, its shape needs " +
                         std::to_string(expected));
  }
  const auto* p = static_cast<const uint8_t*>(data);
  add_raw_tensor(name, dims, uint32_t(type), std::vector<uint8_t>(p, p + nbytes));
  return Status::Ok();
}

Status GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& dims, TensorType type,
                              FillFn fill) {
  uint64_t nbytes = 0;
  KVLITE_TRY(check_shape(name, dims, type, nbytes));
  if (!fill) return Status::Error("tensor '" + name + "': no fill function");
  tensors_.push_back(PendingTensor{name, dims, uint32_t(type), nbytes, {}, std::move(fill)});
  return Status::Ok();
}

void GgufWriter::add_raw_tensor(const std::string& name, const std::vector<int64_t>& dims, uint32_t raw_type,
                                std::vector<uint8_t> bytes) {
  const uint64_t nbytes = bytes.size();
  tensors_.push_back(PendingTensor{name, dims, raw_type, nbytes, std::move(bytes), nullptr});
}

uint64_t GgufWriter::alignment() const {
  for (const auto& [key, value] : metadata_) {
    if (key != "general.alignment") continue;
    const auto* u = std::get_if<uint64_t>(&value.v);
    // A deliberately invalid value (tests of the reader) still gets a sane layout.
    if (u && *u != 0 && (*u & (*u - 1)) == 0) return *u;
  }
  return kDefaultAlignment;
}

std::vector<uint64_t> GgufWriter::tensor_offsets() const {
  std::vector<uint64_t> offsets;
  const uint64_t align = alignment();
  uint64_t next = 0;
  for (const PendingTensor& t : tensors_) {
    offsets.push_back(next);
    next = align_up(next + t.nbytes, align);
  }
  offsets.push_back(next);  // end of the data section
  return offsets;
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
  Bytes out;
  out.insert(out.end(), {'G', 'G', 'U', 'F'});
  put<uint32_t>(out, version_);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, metadata_.size());
  for (const auto& [key, value] : metadata_) {
    put_string(out, key);
    put<uint32_t>(out, uint32_t(value.type));
    put_value_body(out, value);
  }
  const std::vector<uint64_t> offsets = tensor_offsets();
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const PendingTensor& t = tensors_[i];
    put_string(out, t.name);
    put<uint32_t>(out, uint32_t(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(out, uint64_t(d));
    put<uint32_t>(out, t.raw_type);
    put<uint64_t>(out, offsets[i]);
  }
  out.resize(align_up(out.size(), alignment()), 0);
  return out;
}

uint64_t GgufWriter::file_size() const { return header_bytes().size() + tensor_offsets().back(); }

Status GgufWriter::write_to(const std::function<Status(const void*, size_t)>& sink) const {
  const Bytes header = header_bytes();
  KVLITE_TRY(sink(header.data(), header.size()));
  const std::vector<uint64_t> offsets = tensor_offsets();
  Bytes scratch;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const PendingTensor& t = tensors_[i];
    const uint8_t* data = t.bytes.data();
    if (t.fill) {
      scratch.assign(size_t(t.nbytes), 0);
      t.fill(scratch.data(), scratch.size());
      data = scratch.data();
    }
    KVLITE_TRY(sink(data, size_t(t.nbytes)));
    const Bytes padding(size_t(offsets[i + 1] - offsets[i] - t.nbytes), 0);
    KVLITE_TRY(sink(padding.data(), padding.size()));
  }
  return Status::Ok();
}

std::vector<uint8_t> GgufWriter::write_buffer() const {
  Bytes out;
  out.reserve(size_t(file_size()));
  Status s = write_to([&](const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
    return Status::Ok();
  });
  (void)s;  // appending to memory cannot fail
  return out;
}

Status GgufWriter::write_file(const std::string& path) const {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return Status::Error(path + ": cannot create: " + std::strerror(errno));
  KVLITE_TRY(write_to([&](const void* p, size_t n) {
    if (n == 0 || std::fwrite(p, 1, n, f.get()) == n) return Status::Ok();
    return Status::Error(path + ": write failed: " + std::strerror(errno));
  }));
  if (std::fclose(f.release()) != 0) return Status::Error(path + ": close failed: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace kvlite
