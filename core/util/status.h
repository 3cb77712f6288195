// Error values for the whole core. Bad input never aborts: functions return a
// Status or a Result<T> whose message says what was wrong and where.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace kvlite {

class [[nodiscard]] Status {
 public:
  Status() = default;  // success
  static Status Ok() { return Status(); }
  static Status Error(std::string message) {
    Status s;
    s.message_ = std::move(message);
    s.failed_ = true;
    return s;
  }
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
  bool failed_ = false;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status error) : error_(std::move(error)) { assert(!error_.ok()); }  // NOLINT
  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Status& status() const { return error_; }
  const std::string& message() const { return error_.message(); }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::optional<T> value_;
  Status error_;
};

}  // namespace kvlite

// Propagate an error Status from an expression returning Status.
#define KVLITE_TRY(expr)                      \
  do {                                        \
    ::kvlite::Status kvlite_status_ = (expr); \
    if (!kvlite_status_.ok()) return kvlite_status_; \
  } while (0)
