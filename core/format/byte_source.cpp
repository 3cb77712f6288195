#include "format/byte_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace kvlite {
namespace {

// One message for every source, so a truncated file reads the same whether it
// came from disk, memory or a browser File.
Status check_range(const ByteSource& src, uint64_t offset, size_t n) {
  const uint64_t size = src.size();
  if (offset <= size && n <= size - offset) return Status::Ok();
  return Status::Error(src.describe() + ": read of " + std::to_string(n) + " bytes at offset " +
                       std::to_string(offset) + " runs past the end (size " + std::to_string(size) + ")");
}

// Positioned reads (pread) keep no shared file position, so tensor loads may
// later run from several threads; Emscripten's NODERAWFS maps pread onto
// node's fs.readSync with a position, so the same code serves the wasm CLI.
class FileSource final : public ByteSource {
 public:
  FileSource(int fd, uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}
  ~FileSource() override { ::close(fd_); }
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  std::string describe() const override { return path_; }

  Status read(uint64_t offset, void* dst, size_t n) override {
    KVLITE_TRY(check_range(*this, offset, n));
    auto* out = static_cast<uint8_t*>(dst);
    while (n > 0) {
      // Some platforms cap one read (Linux at ~2 GiB); loop rather than assume.
      const size_t chunk = n < (size_t(1) << 30) ? n : (size_t(1) << 30);
      const ssize_t got = ::pread(fd_, out, chunk, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        const std::string why = got == 0 ? "file shrank while reading" : std::strerror(errno);
        return Status::Error(path_ + ": read of " + std::to_string(n) + " bytes at offset " +
                             std::to_string(offset) + " failed: " + why);
      }
      out += got;
      offset += uint64_t(got);
      n -= size_t(got);
    }
    return Status::Ok();
  }

 private:
  int fd_;
  uint64_t size_;
  std::string path_;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(const void* data, size_t size, std::string name)
      : data_(static_cast<const uint8_t*>(data)), size_(size), name_(std::move(name)) {}
  MemorySource(std::vector<uint8_t> bytes, std::string name)
      : owned_(std::move(bytes)), data_(owned_.data()), size_(owned_.size()), name_(std::move(name)) {}

  uint64_t size() const override { return size_; }
  std::string describe() const override { return name_; }

  Status read(uint64_t offset, void* dst, size_t n) override {
    KVLITE_TRY(check_range(*this, offset, n));
    if (n > 0) std::memcpy(dst, data_ + offset, n);
    return Status::Ok();
  }

 private:
  std::vector<uint8_t> owned_;
  const uint8_t* data_;
  size_t size_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<ByteSource>> open_file_source(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::Error(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  const bool stat_ok = ::fstat(fd, &st) == 0;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    const std::string why = !stat_ok ? std::strerror(errno) : S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
    ::close(fd);
    return Status::Error(path + ": cannot read: " + why);
  }
  return std::unique_ptr<ByteSource>(new FileSource(fd, uint64_t(st.st_size), path));
}

std::unique_ptr<ByteSource> memory_source(const void* data, size_t size, std::string name) {
  return std::make_unique<MemorySource>(data, size, std::move(name));
}

std::unique_ptr<ByteSource> owned_memory_source(std::vector<uint8_t> bytes, std::string name) {
  return std::make_unique<MemorySource>(std::move(bytes), std::move(name));
}

}  // namespace kvlite
