// A small flag parser: "--name value" and "-m value" pairs, with every flag
// declared up front so unknown flags are errors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kvlite::cli {

struct FlagSpec {
  std::string long_name;   // "--model"
  std::string short_name;  // "-m", may be empty
  bool takes_value = true;
};

class Args {
 public:
  // Parses argv[first..]; on failure returns an error message.
  std::optional<std::string> parse(int argc, char** argv, int first, const std::vector<FlagSpec>& specs);
  bool has(const std::string& long_name) const { return values_.count(long_name) > 0; }
  std::string get(const std::string& long_name, const std::string& fallback = "") const;
  // Typed values; a malformed number is reported through error().
  double number(const std::string& long_name, double fallback);
  int64_t integer(const std::string& long_name, int64_t fallback);
  const std::optional<std::string>& error() const { return error_; }

 private:
  std::map<std::string, std::string> values_;
  std::optional<std::string> error_;
};

}  // namespace kvlite::cli
