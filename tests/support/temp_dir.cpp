#include "support/temp_dir.h"

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

namespace kvlite::test {

TempDir::TempDir() {
  // Under node (wasm tests), mkdtemp's name comes from a millisecond clock,
  // so ctest -j processes started together could share a folder and
  // overwrite each other's files: a random prefix keeps them apart.
  const std::string salt = std::to_string(std::random_device{}());
  std::string templ = (std::filesystem::temp_directory_path() / ("kvlite-test-" + salt + "-XXXXXX")).string();
  const char* made = ::mkdtemp(templ.data());
  dir_ = made ? made : templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace kvlite::test
