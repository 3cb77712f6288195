// Copies a GGUF file through an edit: tests make a valid model, then change
// its metadata or drop, replace or add tensors to see what the loader does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "format/gguf_writer.h"

namespace kvlite::test {

// `edit` gets a writer holding every metadata key of `from` (it may set,
// change or remove keys and add tensors of its own) and the list of `from`'s
// tensors to copy (it may drop some). The result is written to `to`.
using GgufEdit = std::function<void(GgufWriter&, std::vector<const TensorInfo*>&)>;
Status rewrite_gguf(const std::string& from, const std::string& to, const GgufEdit& edit);

}  // namespace kvlite::test
