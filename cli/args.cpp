#include "args.h"

#include <cstdlib>

namespace kvlite::cli {

std::optional<std::string> Args::parse(int argc, char** argv, int first, const std::vector<FlagSpec>& specs) {
  for (int i = first; i < argc; ++i) {
    const std::string arg = argv[i];
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs) {
      if (arg == s.long_name || (!s.short_name.empty() && arg == s.short_name)) spec = &s;
    }
    if (!spec) return "unknown flag '" + arg + "'";
    if (!spec->takes_value) {
      values_[spec->long_name] = "1";
      continue;
    }
    if (i + 1 >= argc) return "flag " + arg + " needs a value";
    values_[spec->long_name] = argv[++i];
  }
  return std::nullopt;
}

std::string Args::get(const std::string& long_name, const std::string& fallback) const {
  auto it = values_.find(long_name);
  return it == values_.end() ? fallback : it->second;
}

double Args::number(const std::string& long_name, double fallback) {
  auto it = values_.find(long_name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str() || *end != '\0') {
    error_ = "flag " + long_name + " expects a number, got '" + it->second + "'";
    return fallback;
  }
  return v;
}

int64_t Args::integer(const std::string& long_name, int64_t fallback) {
  auto it = values_.find(long_name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0') {
    error_ = "flag " + long_name + " expects an integer, got '" + it->second + "'";
    return fallback;
  }
  return v;
}

}  // namespace kvlite::cli
