#include "support/paths.h"

#include <sys/stat.h>

namespace kvlite::test {

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string shared_path(const std::string& rel) {
  std::string p = std::string(KVLITE_SHARED_DIR) + "/" + rel;
  return file_exists(p) ? p : std::string();
}

std::string source_path(const std::string& rel) { return std::string(KVLITE_SOURCE_DIR) + "/" + rel; }

}  // namespace kvlite::test
