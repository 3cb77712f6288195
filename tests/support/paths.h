// Where tests find their data. The shared models exist on CI and developer
// machines; on a user's fresh clone they do not, and tests that need them say
// so and step aside.
#pragma once

#include <string>

namespace kvlite::test {

// "../shared/<rel>" resolved from the source tree; empty when absent.
std::string shared_path(const std::string& rel);
// A path inside the repository.
std::string source_path(const std::string& rel);
bool file_exists(const std::string& path);

}  // namespace kvlite::test

// Steps aside (with the reason printed) when a shared file is missing.
#define KVLITE_REQUIRE_SHARED(var, rel)                                          \
  const std::string var = ::kvlite::test::shared_path(rel);                      \
  if (var.empty()) {                                                             \
    GTEST_SKIP() << "../shared/" << (rel) << " is not present (fresh clone): "   \
                 << "this check needs the shared reference data";                \
  }
