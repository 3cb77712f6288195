#include "support/edit_gguf.h"

#include "format/byte_source.h"

namespace kvlite::test {

Status rewrite_gguf(const std::string& from, const std::string& to, const GgufEdit& edit) {
  auto src = open_file_source(from);
  if (!src) return src.status();
  auto gguf = parse_gguf(*src.value());
  if (!gguf) return gguf.status();
  GgufWriter w;
  for (const auto& [key, value] : gguf.value().metadata) w.set_value(key, value);
  std::vector<const TensorInfo*> tensors;
  for (const TensorInfo& t : gguf.value().tensors) tensors.push_back(&t);
  edit(w, tensors);
  for (const TensorInfo* t : tensors) {
    std::vector<uint8_t> bytes(size_t(t->n_bytes));
    KVLITE_TRY(src.value()->read(t->offset, bytes.data(), bytes.size()));
    std::vector<int64_t> dims(t->ne, t->ne + t->n_dims);
    w.add_raw_tensor(t->name, dims, t->raw_type, std::move(bytes));
  }
  return w.write_file(to);
}

}  // namespace kvlite::test
