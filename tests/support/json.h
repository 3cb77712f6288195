// A small JSON reader for tests and tools that check against reference files:
// objects (keys kept in file order), arrays, strings (all escapes, \uXXXX with
// surrogate pairs, decoded to UTF-8), numbers (as double), true/false/null.
//
//   Result<std::string> text = read_text_file(path);
//   Result<JsonValue> doc = parse_json(*text);
//   for (const JsonValue& record : doc->as_array())
//     use(record["name"].as_string(), record["ids"].as_ints());
//
// Lookups never throw or abort: a missing key, an index out of range or a
// value of another kind reads as null / 0 / "" / empty, so a test can
// ASSERT on is_*() or contains() where that matters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace kvlite::test {

class JsonValue {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };
  using Array = std::vector<JsonValue>;
  using Object = std::vector<std::pair<std::string, JsonValue>>;  // file order

  JsonValue() = default;  // null
  static JsonValue boolean(bool b);
  static JsonValue number(double d);
  static JsonValue string(std::string s);
  static JsonValue array(Array items);
  static JsonValue object(Object members);

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool as_bool() const { return bool_; }                // false unless a bool
  double as_number() const { return number_; }          // 0 unless a number
  int64_t as_int() const { return int64_t(number_); }   // truncated
  const std::string& as_string() const { return string_; }  // "" unless a string
  const Array& as_array() const { return array_; }      // empty unless an array
  const Object& as_object() const { return object_; }   // empty unless an object
  // An array of numbers as ints (non-numbers read as 0), e.g. token ids.
  std::vector<int32_t> as_ints() const;
  std::vector<double> as_numbers() const;

  // Elements of an array or members of an object; 0 otherwise.
  size_t size() const;
  // The member's value, or a null value when absent or not an object.
  const JsonValue& operator[](std::string_view key) const;
  // The element, or a null value when out of range or not an array.
  const JsonValue& operator[](size_t index) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const JsonValue* find(std::string_view key) const;  // first member with that key

 private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  Array array_;
  Object object_;
};

// Parses one JSON document (surrounding whitespace allowed). Errors say what
// was wrong and at which byte offset.
Result<JsonValue> parse_json(std::string_view text);

// The whole file as bytes; the error names the path.
Result<std::string> read_text_file(const std::string& path);

}  // namespace kvlite::test
