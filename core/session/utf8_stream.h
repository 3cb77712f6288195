// Token pieces can split a UTF-8 character (byte-fallback tokens): this holds
// back an incomplete tail so every string handed to a front end is whole UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace kvlite {

class Utf8Stream {
 public:
  // Appends bytes; returns the longest prefix of what is buffered that ends on
  // a character boundary.
  std::string push(std::string_view bytes);
  // Whatever remains (an incomplete character at the very end), as is.
  std::string flush();

 private:
  std::string buffer_;
};

// Length of the longest prefix of s that does not end inside a UTF-8 character.
size_t utf8_complete_prefix(std::string_view s);

}  // namespace kvlite
