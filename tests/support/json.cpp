#include "support/json.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tokenizer/unicode.h"  // append_utf8

namespace kvlite::test {

JsonValue JsonValue::boolean(bool b) {
  JsonValue v;
  v.kind_ = Kind::Bool;
  v.bool_ = b;
  return v;
}

JsonValue JsonValue::number(double d) {
  JsonValue v;
  v.kind_ = Kind::Number;
  v.number_ = d;
  return v;
}

JsonValue JsonValue::string(std::string s) {
  JsonValue v;
  v.kind_ = Kind::String;
  v.string_ = std::move(s);
  return v;
}

JsonValue JsonValue::array(Array items) {
  JsonValue v;
  v.kind_ = Kind::Array;
  v.array_ = std::move(items);
  return v;
}

JsonValue JsonValue::object(Object members) {
  JsonValue v;
  v.kind_ = Kind::Object;
  v.object_ = std::move(members);
  return v;
}

std::vector<int32_t> JsonValue::as_ints() const {
  std::vector<int32_t> out;
  out.reserve(array_.size());
  for (const JsonValue& item : array_) out.push_back(int32_t(item.as_number()));
  return out;
}

std::vector<double> JsonValue::as_numbers() const {
  std::vector<double> out;
  out.reserve(array_.size());
  for (const JsonValue& item : array_) out.push_back(item.as_number());
  return out;
}

size_t JsonValue::size() const {
  return kind_ == Kind::Array ? array_.size() : kind_ == Kind::Object ? object_.size() : 0;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  for (const auto& member : object_) {
    if (member.first == key) return &member.second;
  }
  return nullptr;
}

const JsonValue& JsonValue::operator[](std::string_view key) const {
  static const JsonValue null_value;
  const JsonValue* v = find(key);
  return v ? *v : null_value;
}

const JsonValue& JsonValue::operator[](size_t index) const {
  static const JsonValue null_value;
  return index < array_.size() ? array_[index] : null_value;
}

namespace {

// Recursive descent over the text; every failure records a message with the
// offset and unwinds by returning false.
class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<JsonValue> parse_document() {
    JsonValue value;
    skip_space();
    if (!parse_value(value, 0)) return Status::Error(error_);
    skip_space();
    if (pos_ != text_.size()) return Status::Error(message("unexpected text after the document"));
    return value;
  }

 private:
  static constexpr int kMaxDepth = 512;

  std::string message(const std::string& what) const {
    return "json: " + what + " at byte " + std::to_string(pos_);
  }
  bool fail(const std::string& what) {
    error_ = message(what);
    return false;
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }
  bool consume(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  bool parse_value(JsonValue& out, int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    switch (peek()) {
      case '{': return parse_object(out, depth);
      case '[': return parse_array(out, depth);
      case '"': {
        std::string s;
        if (!parse_string(s)) return false;
        out = JsonValue::string(std::move(s));
        return true;
      }
      case 't': if (consume("true")) { out = JsonValue::boolean(true); return true; } break;
      case 'f': if (consume("false")) { out = JsonValue::boolean(false); return true; } break;
      case 'n': if (consume("null")) { out = JsonValue(); return true; } break;
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return parse_number(out);
    }
    return fail(at_end() ? "unexpected end of input" : "unexpected character");
  }

  bool parse_array(JsonValue& out, int depth) {
    ++pos_;  // '['
    JsonValue::Array items;
    skip_space();
    if (peek() == ']') {
      ++pos_;
      out = JsonValue::array(std::move(items));
      return true;
    }
    for (;;) {
      skip_space();
      items.emplace_back();
      if (!parse_value(items.back(), depth + 1)) return false;
      skip_space();
      if (peek() == ',') { ++pos_; continue; }
      if (peek() == ']') { ++pos_; break; }
      return fail("expected ',' or ']' in array");
    }
    out = JsonValue::array(std::move(items));
    return true;
  }

  bool parse_object(JsonValue& out, int depth) {
    ++pos_;  // '{'
    JsonValue::Object members;
    skip_space();
    if (peek() == '}') {
      ++pos_;
      out = JsonValue::object(std::move(members));
      return true;
    }
    for (;;) {
      skip_space();
      if (peek() != '"') return fail("expected a string key in object");
      members.emplace_back();
      if (!parse_string(members.back().first)) return false;
      skip_space();
      if (peek() != ':') return fail("expected ':' after object key");
      ++pos_;
      skip_space();
      if (!parse_value(members.back().second, depth + 1)) return false;
      skip_space();
      if (peek() == ',') { ++pos_; continue; }
      if (peek() == '}') { ++pos_; break; }
      return fail("expected ',' or '}' in object");
    }
    out = JsonValue::object(std::move(members));
    return true;
  }

  // Validates the JSON number grammar, then converts with strtod.
  bool parse_number(JsonValue& out) {
    const size_t start = pos_;
    auto digits = [&] {
      size_t n = 0;
      while (peek() >= '0' && peek() <= '9') { ++pos_; ++n; }
      return n;
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_;
    else if (digits() == 0) return fail("bad number");
    if (peek() == '.') {
      ++pos_;
      if (digits() == 0) return fail("bad number: no digits after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (digits() == 0) return fail("bad number: no digits in exponent");
    }
    const std::string token(text_.substr(start, pos_ - start));
    out = JsonValue::number(std::strtod(token.c_str(), nullptr));
    return true;
  }

  bool parse_hex4(uint32_t& out) {
    if (pos_ + 4 > text_.size()) return fail("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = text_[pos_++];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return fail("bad hex digit in \\u escape");
      out = out * 16 + uint32_t(d);
    }
    return true;
  }

  // After "\u": one code point, joining a surrogate pair.
  bool parse_unicode_escape(std::string& out) {
    uint32_t cp = 0;
    if (!parse_hex4(cp)) return false;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("unpaired low surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      uint32_t low = 0;
      if (!consume("\\u") || !parse_hex4(low) || low < 0xDC00 || low > 0xDFFF) {
        return fail("high surrogate without a low surrogate");
      }
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    unicode::append_utf8(out, cp);
    return true;
  }

  bool parse_escape(std::string& out) {
    const char c = text_[pos_++];
    switch (c) {
      case '"': out += '"'; return true;
      case '\\': out += '\\'; return true;
      case '/': out += '/'; return true;
      case 'b': out += '\b'; return true;
      case 'f': out += '\f'; return true;
      case 'n': out += '\n'; return true;
      case 'r': out += '\r'; return true;
      case 't': out += '\t'; return true;
      case 'u': return parse_unicode_escape(out);
      default: --pos_; return fail("unknown escape");
    }
  }

  bool parse_string(std::string& out) {
    ++pos_;  // opening quote
    for (;;) {
      if (at_end()) return fail("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (uint8_t(c) < 0x20) {
        --pos_;
        return fail("control character in string");
      }
      if (c != '\\') {
        out += c;
      } else {
        if (at_end()) return fail("unterminated string");
        if (!parse_escape(out)) return false;
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

Result<JsonValue> parse_json(std::string_view text) { return Parser(text).parse_document(); }

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Error("cannot open " + path);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return Status::Error("cannot read " + path);
  return bytes.str();
}

}  // namespace kvlite::test
