// Where model bytes come from. The GGUF reader only ever asks a ByteSource for
// ranges, so a native file, a memory buffer and a browser File (read slice by
// slice from a Worker) all load through the same code, and tensor data can be
// read straight into its final place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "util/status.h"

namespace kvlite {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Total size in bytes.
  virtual uint64_t size() const = 0;
  // Copies exactly n bytes starting at offset into dst, or fails (a read past
  // the end is an error that names the offset).
  virtual Status read(uint64_t offset, void* dst, size_t n) = 0;
  // A short description for error messages, e.g. the file name.
  virtual std::string describe() const = 0;
};

// Reads a file from disk with positioned reads.
Result<std::unique_ptr<ByteSource>> open_file_source(const std::string& path);

// Reads from bytes held in memory; the view must outlive the source.
std::unique_ptr<ByteSource> memory_source(const void* data, size_t size, std::string name = "memory");
// Same, owning a copy of the bytes.
std::unique_ptr<ByteSource> owned_memory_source(std::vector<uint8_t> bytes, std::string name = "memory");

}  // namespace kvlite
