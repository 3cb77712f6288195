#include "session/utf8_stream.h"

namespace kvlite {

size_t utf8_complete_prefix(std::string_view s) {
  // Look back at most 3 bytes for the start of the last character.
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const unsigned char c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    size_t need = 1;
    if ((c & 0xE0) == 0xC0) need = 2;
    else if ((c & 0xF0) == 0xE0) need = 3;
    else if ((c & 0xF8) == 0xF0) need = 4;
    return back >= need ? n : n - back;
  }
  return n;  // only continuation bytes: not ours to fix, pass them on
}

std::string Utf8Stream::push(std::string_view bytes) {
  buffer_.append(bytes);
  const size_t ready = utf8_complete_prefix(buffer_);
  std::string out = buffer_.substr(0, ready);
  buffer_.erase(0, ready);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out;
  out.swap(buffer_);
  return out;
}

}  // namespace kvlite
