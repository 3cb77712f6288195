#include "support/temp_dir.h"

#include <cstdlib>
#include <filesystem>

namespace kvlite::test {

TempDir::TempDir() {
  std::string templ = (std::filesystem::temp_directory_path() / "kvlite-test-XXXXXX").string();
  const char* made = ::mkdtemp(templ.data());
  dir_ = made ? made : templ;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace kvlite::test
