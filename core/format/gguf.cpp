#include "format/gguf.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <utility>

namespace kvlite {

static_assert(std::endian::native == std::endian::little,
              "GGUF fields are decoded with memcpy, which assumes a little-endian host (x86, ARM, wasm)");

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
// Header reads go through a window of this size: few source calls (each one is
// a message round trip for a browser File) and no need to hold the whole file.
constexpr size_t kWindowBytes = 64u << 10;
constexpr uint32_t kMaxDims = 4;
// The smallest possible encodings, used to reject a count before reserving
// memory for it: a count is plausible only if that many minimal items fit in
// the bytes that are left.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;               // key length, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, one dim, type, offset
constexpr uint64_t kMinArrayBytes = 4 + 8;                // element type, count

std::string str(uint64_t v) { return std::to_string(v); }
std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }
Status prefixed(const std::string& context, const Status& s) { return Status::Error(context + s.message()); }

bool is_valid_type(uint32_t raw) { return raw <= uint32_t(GgufValueType::FLOAT64); }
bool is_float_type(GgufValueType t) { return t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64; }

// Bytes one element of the type takes on disk; for strings and arrays the
// size of their (empty) header, which is the least they can take.
uint64_t min_encoded_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    case GgufValueType::STRING: return 8;
    case GgufValueType::ARRAY: return kMinArrayBytes;
  }
  return 1;
}

const char* type_label(GgufValueType t) {
  static const char* const names[] = {"uint8", "int8",   "uint16", "int16", "uint32", "int32", "float32",
                                      "bool",  "string", "array",  "uint64", "int64", "float64"};
  const auto i = uint32_t(t);
  return i < std::size(names) ? names[i] : "unknown";
}

std::string describe_type(const GgufValue& v) {
  if (auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v.v); a && *a) {
    return std::string("array of ") + type_label((*a)->elem_type);
  }
  return type_label(v.type);
}

// Sequential reader over a ByteSource through a window buffer.
class Cursor {
 public:
  explicit Cursor(ByteSource& src) : src_(src), size_(src.size()) {}
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  Status read(void* dst, size_t n) {
    if (n > remaining()) {
      return Status::Error("unexpected end of file at offset " + str(pos_) + ": needs " + str(n) +
                           " bytes, only " + str(remaining()) + " remain");
    }
    auto* out = static_cast<uint8_t*>(dst);
    const size_t buffered = take_buffered(out, n);
    out += buffered;
    n -= buffered;
    if (n == 0) return Status::Ok();
    if (n >= kWindowBytes) {  // a long string: straight into its destination
      KVLITE_TRY(src_.read(pos_, out, n));
      pos_ += n;
      return Status::Ok();
    }
    KVLITE_TRY(refill());
    take_buffered(out, n);
    return Status::Ok();
  }

  template <class T>
  Status read_pod(T& out) {
    return read(&out, sizeof(T));
  }

 private:
  size_t take_buffered(uint8_t* out, size_t n) {
    if (pos_ < window_start_ || pos_ >= window_start_ + window_.size()) return 0;
    const size_t at = size_t(pos_ - window_start_);
    const size_t take = std::min(n, window_.size() - at);
    std::memcpy(out, window_.data() + at, take);
    pos_ += take;
    return take;
  }

  Status refill() {
    window_.resize(size_t(std::min<uint64_t>(kWindowBytes, remaining())));
    window_start_ = pos_;
    Status s = src_.read(pos_, window_.data(), window_.size());
    if (!s.ok()) window_.clear();
    return s;
  }

  ByteSource& src_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::vector<uint8_t> window_;
  uint64_t window_start_ = 0;
};

class Parser {
 public:
  Parser(ByteSource& src, const GgufLimits& limits) : cur_(src), limits_(limits) {}

  Status run(GgufFile& file, std::map<std::string, size_t, std::less<>>& keys,
             std::map<std::string, size_t, std::less<>>& tensors);

 private:
  Status read_header(GgufFile& file, uint64_t& n_tensors, uint64_t& n_kv);
  Status read_metadata(uint64_t n_kv, GgufFile& file, std::map<std::string, size_t, std::less<>>& keys);
  Status read_alignment(GgufFile& file);
  Status read_tensor_infos(uint64_t n_tensors, GgufFile& file, std::map<std::string, size_t, std::less<>>& index);
  Status read_tensor_info(TensorInfo& t, uint64_t alignment);
  Status read_shape(TensorInfo& t);
  Status place_tensors(GgufFile& file);

  Status read_string(std::string& out);
  Status read_type(GgufValueType& out);
  Status read_value(GgufValueType type, GgufValue& out);
  Status read_array(GgufArray& out, uint32_t depth);
  Status read_array_element(GgufArray& out);
  Status check_count(uint64_t count, uint64_t min_bytes_each, uint64_t limit, const std::string& what,
                     uint64_t at);

  Cursor cur_;
  const GgufLimits& limits_;
};

Status Parser::check_count(uint64_t count, uint64_t min_bytes_each, uint64_t limit, const std::string& what,
                           uint64_t at) {
  if (count > limit) {
    return Status::Error(what + " count " + str(count) + " at offset " + str(at) + " is over the limit of " +
                         str(limit));
  }
  if (count > cur_.remaining() / min_bytes_each) {
    return Status::Error(what + " count " + str(count) + " at offset " + str(at) + " needs at least " +
                         str(min_bytes_each) + " bytes each, but only " + str(cur_.remaining()) +
                         " bytes are left in the file");
  }
  return Status::Ok();
}

Status Parser::read_string(std::string& out) {
  const uint64_t at = cur_.pos();
  uint64_t len = 0;
  KVLITE_TRY(cur_.read_pod(len));
  if (len > limits_.max_string_bytes) {
    return Status::Error("string length " + str(len) + " at offset " + str(at) + " is over the limit of " +
                         str(limits_.max_string_bytes) + " bytes");
  }
  if (len > cur_.remaining()) {
    return Status::Error("string length " + str(len) + " at offset " + str(at) + " is longer than the " +
                         str(cur_.remaining()) + " bytes left in the file");
  }
  out.resize(size_t(len));
  return cur_.read(out.data(), size_t(len));
}

Status Parser::read_type(GgufValueType& out) {
  const uint64_t at = cur_.pos();
  uint32_t raw = 0;
  KVLITE_TRY(cur_.read_pod(raw));
  if (!is_valid_type(raw)) return Status::Error("unknown value type " + str(raw) + " at offset " + str(at));
  out = GgufValueType(raw);
  return Status::Ok();
}

// Reads one scalar of the given type into a widened form: unsigned integers
// as uint64, signed as int64, floats as double.
Status read_scalar(Cursor& cur, GgufValueType type, GgufValue& out) {
  const uint64_t at = cur.pos();
  auto as_unsigned = [&](auto narrow) -> Status {
    KVLITE_TRY(cur.read_pod(narrow));
    out.v = uint64_t(narrow);
    return Status::Ok();
  };
  auto as_signed = [&](auto narrow) -> Status {
    KVLITE_TRY(cur.read_pod(narrow));
    out.v = int64_t(narrow);
    return Status::Ok();
  };
  auto as_float = [&](auto narrow) -> Status {
    KVLITE_TRY(cur.read_pod(narrow));
    out.v = double(narrow);
    return Status::Ok();
  };
  out.type = type;
  switch (type) {
    case GgufValueType::UINT8: return as_unsigned(uint8_t{});
    case GgufValueType::UINT16: return as_unsigned(uint16_t{});
    case GgufValueType::UINT32: return as_unsigned(uint32_t{});
    case GgufValueType::UINT64: return as_unsigned(uint64_t{});
    case GgufValueType::INT8: return as_signed(int8_t{});
    case GgufValueType::INT16: return as_signed(int16_t{});
    case GgufValueType::INT32: return as_signed(int32_t{});
    case GgufValueType::INT64: return as_signed(int64_t{});
    case GgufValueType::FLOAT32: return as_float(float{});
    case GgufValueType::FLOAT64: return as_float(double{});
    case GgufValueType::BOOL: {
      uint8_t b = 0;
      KVLITE_TRY(cur.read_pod(b));
      if (b > 1) return Status::Error("bool byte " + str(b) + " at offset " + str(at) + " is neither 0 nor 1");
      out.v = b == 1;
      return Status::Ok();
    }
    case GgufValueType::STRING: case GgufValueType::ARRAY: break;
  }
  return Status::Error("value type " + std::string(type_label(type)) + " is not a scalar");
}

Status Parser::read_value(GgufValueType type, GgufValue& out) {
  out.type = type;
  if (type == GgufValueType::STRING) {
    std::string s;
    KVLITE_TRY(read_string(s));
    out.v = std::move(s);
    return Status::Ok();
  }
  if (type == GgufValueType::ARRAY) {
    auto array = std::make_shared<GgufArray>();
    KVLITE_TRY(read_array(*array, 1));
    out.v = std::move(array);
    return Status::Ok();
  }
  return read_scalar(cur_, type, out);
}

Status Parser::read_array(GgufArray& out, uint32_t depth) {
  const uint64_t at = cur_.pos();
  if (depth > limits_.max_array_depth) {
    return Status::Error("array at offset " + str(at) + " is nested deeper than the limit of " +
                         str(limits_.max_array_depth) + " levels");
  }
  KVLITE_TRY(read_type(out.elem_type));
  const uint64_t count_at = cur_.pos();
  uint64_t count = 0;
  KVLITE_TRY(cur_.read_pod(count));
  const std::string what = std::string("array of ") + type_label(out.elem_type) + ": element";
  KVLITE_TRY(check_count(count, min_encoded_bytes(out.elem_type), limits_.max_array_elements, what, count_at));
  switch (out.elem_type) {
    case GgufValueType::STRING: out.strings.reserve(size_t(count)); break;
    case GgufValueType::ARRAY: out.arrays.reserve(size_t(count)); break;
    case GgufValueType::FLOAT32: case GgufValueType::FLOAT64: out.floats.reserve(size_t(count)); break;
    default: out.ints.reserve(size_t(count)); break;
  }
  for (uint64_t i = 0; i < count; ++i) {
    if (out.elem_type == GgufValueType::ARRAY) {
      out.arrays.emplace_back();
      KVLITE_TRY(read_array(out.arrays.back(), depth + 1));
    } else {
      KVLITE_TRY(read_array_element(out));
    }
  }
  return Status::Ok();
}

Status Parser::read_array_element(GgufArray& out) {
  if (out.elem_type == GgufValueType::STRING) {
    out.strings.emplace_back();
    return read_string(out.strings.back());
  }
  const uint64_t at = cur_.pos();
  GgufValue v;
  KVLITE_TRY(read_scalar(cur_, out.elem_type, v));
  if (auto* f = std::get_if<double>(&v.v)) {
    out.floats.push_back(*f);
  } else if (auto* u = std::get_if<uint64_t>(&v.v)) {
    if (*u > uint64_t(INT64_MAX)) {
      return Status::Error("uint64 array element " + str(*u) + " at offset " + str(at) +
                           " does not fit the int64 that arrays hold");
    }
    out.ints.push_back(int64_t(*u));
  } else if (auto* s = std::get_if<int64_t>(&v.v)) {
    out.ints.push_back(*s);
  } else {
    out.ints.push_back(std::get<bool>(v.v) ? 1 : 0);
  }
  return Status::Ok();
}

Status Parser::read_header(GgufFile& file, uint64_t& n_tensors, uint64_t& n_kv) {
  char magic[4] = {};
  KVLITE_TRY(cur_.read(magic, 4));
  if (std::memcmp(magic, kMagic, 4) != 0) {
    std::string shown;
    for (char c : magic) shown += (c >= 32 && c < 127) ? c : '?';
    return Status::Error("not a GGUF file: magic at offset 0 is '" + shown + "', expected 'GGUF'");
  }
  KVLITE_TRY(cur_.read_pod(file.version));
  if (file.version == 1) {
    return Status::Error("GGUF version 1 (at offset 4) is not supported: it predates 64-bit counts; "
                         "convert the model again with a current llama.cpp");
  }
  if (file.version != 2 && file.version != 3) {
    const uint32_t swapped = (file.version >> 24) | ((file.version >> 8) & 0xff00u) |
                             ((file.version << 8) & 0xff0000u) | (file.version << 24);
    const std::string hint = swapped == 2 || swapped == 3 ? " (a big-endian file, which is not supported)" : "";
    return Status::Error("unsupported GGUF version " + str(file.version) + " at offset 4" + hint +
                         "; versions 2 and 3 are supported");
  }
  KVLITE_TRY(cur_.read_pod(n_tensors));
  KVLITE_TRY(cur_.read_pod(n_kv));
  KVLITE_TRY(check_count(n_kv, kMinKvBytes, limits_.max_metadata_entries, "metadata entry", 16));
  // Tensor infos come after the metadata, so this only bounds them by the
  // whole remainder; each is checked again as it is read.
  return check_count(n_tensors, kMinTensorInfoBytes, limits_.max_tensors, "tensor", 8);
}

Status Parser::read_metadata(uint64_t n_kv, GgufFile& file, std::map<std::string, size_t, std::less<>>& keys) {
  file.metadata.reserve(size_t(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    const uint64_t at = cur_.pos();
    const std::string where = " (entry " + str(i) + " at offset " + str(at) + "): ";
    std::string key;
    Status s = read_string(key);
    if (!s.ok()) return prefixed("metadata key" + where, s);
    const std::string context = "metadata key " + quoted(key) + where;
    if (keys.count(key)) return Status::Error(context + "duplicate key, first seen as entry " +
                                                str(keys.find(key)->second));
    GgufValueType type{};
    GgufValue value;
    s = read_type(type);
    if (s.ok()) s = read_value(type, value);
    if (!s.ok()) return prefixed(context, s);
    keys.emplace(key, file.metadata.size());
    file.metadata.emplace_back(std::move(key), std::move(value));
  }
  return Status::Ok();
}

Status Parser::read_alignment(GgufFile& file) {
  auto it = std::find_if(file.metadata.begin(), file.metadata.end(),
                         [](const auto& kv) { return kv.first == "general.alignment"; });
  if (it == file.metadata.end()) return Status::Ok();
  const GgufValue& v = it->second;
  uint64_t a = 0;
  if (auto* u = std::get_if<uint64_t>(&v.v)) {
    a = *u;
  } else if (auto* s = std::get_if<int64_t>(&v.v)) {
    a = *s > 0 ? uint64_t(*s) : 0;
  } else {
    return Status::Error(std::string("metadata key 'general.alignment' is a ") + describe_type(v) +
                         ", expected an unsigned integer");
  }
  if (a == 0 || (a & (a - 1)) != 0) {
    return Status::Error("metadata key 'general.alignment' is " + format_value(v) +
                         ", which is not a non-zero power of two");
  }
  file.alignment = a;
  return Status::Ok();
}

Status Parser::read_shape(TensorInfo& t) {
  KVLITE_TRY(cur_.read_pod(t.n_dims));
  if (t.n_dims < 1 || t.n_dims > kMaxDims) {
    return Status::Error("n_dims is " + str(t.n_dims) + ", expected 1 to " + str(kMaxDims));
  }
  int64_t count = 1;
  for (uint32_t d = 0; d < t.n_dims; ++d) {
    const uint64_t at = cur_.pos();
    uint64_t dim = 0;
    KVLITE_TRY(cur_.read_pod(dim));
    if (dim == 0 || dim > uint64_t(INT64_MAX)) {
      return Status::Error("dimension " + str(d) + " at offset " + str(at) + " is " + str(dim) +
                           ", expected 1 to 2^63-1");
    }
    t.ne[d] = int64_t(dim);
    if (__builtin_mul_overflow(count, t.ne[d], &count)) {
      return Status::Error("element count overflows int64 at dimension " + str(d) + " (offset " + str(at) + ")");
    }
  }
  return Status::Ok();
}

Status Parser::read_tensor_info(TensorInfo& t, uint64_t alignment) {
  KVLITE_TRY(read_shape(t));
  const uint64_t type_at = cur_.pos();
  KVLITE_TRY(cur_.read_pod(t.raw_type));
  t.traits = type_traits(t.raw_type);
  if (!t.traits) {
    return Status::Error("unknown tensor type id " + str(t.raw_type) + " at offset " + str(type_at));
  }
  const int64_t block = t.traits->block_size;
  if (t.ne[0] % block != 0) {
    return Status::Error("row length " + str(uint64_t(t.ne[0])) + " is not a multiple of " + t.traits->name +
                         "'s block size " + str(uint64_t(block)));
  }
  const uint64_t row = uint64_t(t.ne[0] / block);
  if (__builtin_mul_overflow(row, uint64_t(t.traits->block_bytes), &t.n_bytes) ||
      __builtin_mul_overflow(t.n_bytes, uint64_t(t.n_rows()), &t.n_bytes)) {
    return Status::Error("byte size overflows 64 bits");
  }
  const uint64_t offset_at = cur_.pos();
  KVLITE_TRY(cur_.read_pod(t.offset));
  if (t.offset % alignment != 0) {
    return Status::Error("data offset " + str(t.offset) + " at offset " + str(offset_at) +
                         " is not a multiple of the alignment " + str(alignment));
  }
  return Status::Ok();
}

Status Parser::read_tensor_infos(uint64_t n_tensors, GgufFile& file,
                                 std::map<std::string, size_t, std::less<>>& index) {
  KVLITE_TRY(check_count(n_tensors, kMinTensorInfoBytes, limits_.max_tensors, "tensor", cur_.pos()));
  file.tensors.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    const std::string where = " (entry " + str(i) + " at offset " + str(cur_.pos()) + "): ";
    TensorInfo t;
    Status s = read_string(t.name);
    if (!s.ok()) return prefixed("tensor name" + where, s);
    const std::string context = "tensor " + quoted(t.name) + where;
    if (index.count(t.name)) return Status::Error(context + "duplicate tensor name, first seen as entry " +
                                                  str(index.find(t.name)->second));
    s = read_tensor_info(t, file.alignment);
    if (!s.ok()) return prefixed(context, s);
    index.emplace(t.name, file.tensors.size());
    file.tensors.push_back(std::move(t));
  }
  return Status::Ok();
}

// Turns relative offsets absolute and checks every tensor's bytes lie inside
// the file without overlapping another's.
Status Parser::place_tensors(GgufFile& file) {
  const uint64_t header_end = cur_.pos();
  const uint64_t size = header_end + cur_.remaining();
  if (__builtin_add_overflow(header_end, file.alignment - 1, &file.data_offset)) {
    return Status::Error("alignment " + str(file.alignment) + " overflows the data offset");
  }
  file.data_offset -= file.data_offset % file.alignment;
  for (TensorInfo& t : file.tensors) {
    const uint64_t rel = t.offset;
    uint64_t end = 0;
    if (__builtin_add_overflow(file.data_offset, rel, &t.offset) ||
        __builtin_add_overflow(t.offset, t.n_bytes, &end) || end > size) {
      return Status::Error("tensor " + quoted(t.name) + ": data at offset " + str(rel) + " + data section " +
                           str(file.data_offset) + ", " + str(t.n_bytes) + " bytes, runs past the end of the file (size " +
                           str(size) + ")");
    }
  }
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : file.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& a = *by_offset[i - 1];
    const TensorInfo& b = *by_offset[i];
    if (b.offset < a.offset + a.n_bytes) {
      return Status::Error("tensors " + quoted(a.name) + " (offset " + str(a.offset) + ", " + str(a.n_bytes) +
                           " bytes) and " + quoted(b.name) + " (offset " + str(b.offset) + ") overlap");
    }
  }
  return Status::Ok();
}

Status Parser::run(GgufFile& file, std::map<std::string, size_t, std::less<>>& keys,
                   std::map<std::string, size_t, std::less<>>& tensors) {
  uint64_t n_tensors = 0, n_kv = 0;
  KVLITE_TRY(read_header(file, n_tensors, n_kv));
  KVLITE_TRY(read_metadata(n_kv, file, keys));
  KVLITE_TRY(read_alignment(file));
  KVLITE_TRY(read_tensor_infos(n_tensors, file, tensors));
  return place_tensors(file);
}

std::string format_float(double x, bool single) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x < 0 ? "-inf" : "inf";
  // Shortest text that reads back to the same value.
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, x);
    const double back = std::strtod(buf, nullptr);
    if (single ? float(back) == float(x) : back == x) break;
  }
  return buf;
}

std::string format_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 32 || c == 127) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string format_array(const GgufArray& a, size_t max_items) {
  const size_t held = a.size(), n = held + size_t(a.dropped);
  std::string out = "[";
  for (size_t i = 0; i < held && i < max_items; ++i) {
    if (i) out += ", ";
    if (a.elem_type == GgufValueType::STRING) {
      out += format_string(a.strings[i]);
    } else if (a.elem_type == GgufValueType::ARRAY) {
      out += format_array(a.arrays[i], max_items);
    } else if (is_float_type(a.elem_type)) {
      out += format_float(a.floats[i], a.elem_type == GgufValueType::FLOAT32);
    } else if (a.elem_type == GgufValueType::BOOL) {
      out += a.ints[i] ? "true" : "false";
    } else {
      out += std::to_string(a.ints[i]);
    }
  }
  const size_t shown = std::min(held, max_items);
  if (n > shown) out += (shown ? ", ... " : "... ") + str(n - shown) + " more";
  return out + "]";
}

}  // namespace

void GgufArray::keep_first(size_t n) {
  const size_t held = size();
  if (held <= n) return;
  strings.resize(std::min(strings.size(), n));
  strings.shrink_to_fit();
  ints.resize(std::min(ints.size(), n));
  ints.shrink_to_fit();
  floats.resize(std::min(floats.size(), n));
  floats.shrink_to_fit();
  arrays.resize(std::min(arrays.size(), n));
  arrays.shrink_to_fit();
  dropped += held - n;
}

size_t GgufArray::size() const {
  switch (elem_type) {
    case GgufValueType::STRING: return strings.size();
    case GgufValueType::ARRAY: return arrays.size();
    case GgufValueType::FLOAT32: case GgufValueType::FLOAT64: return floats.size();
    default: return ints.size();
  }
}

Result<GgufFile> parse_gguf(ByteSource& src, const GgufLimits& limits) {
  GgufFile file;
  std::map<std::string, size_t, std::less<>> keys, tensors;
  Parser parser(src, limits);
  Status s = parser.run(file, keys, tensors);
  if (!s.ok()) return prefixed(src.describe() + ": ", s);
  file.key_index_ = std::move(keys);
  file.tensor_index_ = std::move(tensors);
  return file;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata[it->second].second;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors[it->second];
}

namespace {

Status missing_key(std::string_view key) {
  return Status::Error("metadata key " + quoted(key) + " is missing");
}

Status wrong_type(std::string_view key, const GgufValue& v, const char* expected) {
  return Status::Error("metadata key " + quoted(key) + " is a " + describe_type(v) + " (" + format_value(v, 4) +
                       "), expected " + expected);
}

}  // namespace

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing_key(key);
  if (auto* s = std::get_if<std::string>(&v->v)) return *s;
  return wrong_type(key, *v, "a string");
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing_key(key);
  if (auto* s = std::get_if<int64_t>(&v->v)) return *s;
  if (auto* u = std::get_if<uint64_t>(&v->v)) {
    if (*u <= uint64_t(INT64_MAX)) return int64_t(*u);
    return Status::Error("metadata key " + quoted(key) + " is " + str(*u) + ", which does not fit an int64");
  }
  return wrong_type(key, *v, "an integer");
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing_key(key);
  if (auto* f = std::get_if<double>(&v->v)) return *f;
  if (auto* s = std::get_if<int64_t>(&v->v)) return double(*s);
  if (auto* u = std::get_if<uint64_t>(&v->v)) return double(*u);
  return wrong_type(key, *v, "a number");
}

Result<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing_key(key);
  if (auto* b = std::get_if<bool>(&v->v)) return *b;
  return wrong_type(key, *v, "a bool");
}

Result<const GgufArray*> GgufFile::get_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return missing_key(key);
  if (auto* a = std::get_if<std::shared_ptr<GgufArray>>(&v->v); a && *a) return static_cast<const GgufArray*>(a->get());
  return wrong_type(key, *v, "an array");
}

Result<int64_t> GgufFile::get_int_or(std::string_view key, int64_t fallback) const {
  return find(key) ? get_int(key) : Result<int64_t>(fallback);
}

Result<double> GgufFile::get_float_or(std::string_view key, double fallback) const {
  return find(key) ? get_float(key) : Result<double>(fallback);
}

Result<bool> GgufFile::get_bool_or(std::string_view key, bool fallback) const {
  return find(key) ? get_bool(key) : Result<bool>(fallback);
}

Result<std::string> GgufFile::get_string_or(std::string_view key, std::string fallback) const {
  return find(key) ? get_string(key) : Result<std::string>(std::move(fallback));
}

std::string format_value(const GgufValue& value, size_t max_items) {
  if (auto* u = std::get_if<uint64_t>(&value.v)) return std::to_string(*u);
  if (auto* s = std::get_if<int64_t>(&value.v)) return std::to_string(*s);
  if (auto* f = std::get_if<double>(&value.v)) return format_float(*f, value.type == GgufValueType::FLOAT32);
  if (auto* b = std::get_if<bool>(&value.v)) return *b ? "true" : "false";
  if (auto* s = std::get_if<std::string>(&value.v)) return format_string(*s);
  const auto& a = std::get<std::shared_ptr<GgufArray>>(value.v);
  return a ? format_array(*a, max_items) : "[]";
}

}  // namespace kvlite
