#pragma once
// Checked reading of a JSON object's members, with one message style for the whole project:
//
//   <name>: expected <what>, got <value as written>
//
// <name> says where the member is. With a JSON path (`JsonFields(block, "$.data")`) it is the
// member's path, "$.data.size"; with a label (`JsonFields(params, "maskcnn parameter",
// Naming::kLabel)`) it is "maskcnn parameter 'size'". Every getter returns `fallback` when the
// member is absent and throws ns::Error (exit code 2, bad input) when it is there but wrong.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace ns::core {

/// A closed or open interval of numbers, for messages and checks.
struct Interval {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;

  static Interval at_least(double lo) { return {lo}; }
  static Interval above(double lo) { return {lo, std::numeric_limits<double>::infinity(), true}; }
  static Interval closed(double lo, double hi) { return {lo, hi}; }
  static Interval open(double lo, double hi) { return {lo, hi, true, true}; }
  bool contains(double x) const;
  /// " in [0, 1]", " >= 1", " > 0", "" (unbounded).
  std::string describe() const;
};

/// How a member is named in messages.
enum class Naming {
  kPath,   ///< "<where>.<key>" ("$.data.size")
  kLabel,  ///< "<where> '<key>'" ("maskcnn parameter 'size'")
};

class JsonFields {
 public:
  /// `object` must outlive this reader. A value that is not an object reads as having no members
  /// (the caller checks the object itself).
  JsonFields(const nlohmann::json& object, std::string where, Naming naming = Naming::kPath);

  bool has(const std::string& key) const;
  /// The member's name in messages.
  std::string name(const std::string& key) const;
  /// Throws "<name>: expected <expected>, got <the member's value>".
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;
  /// Throws "<name>: <message>" (for checks that are not a type or range).
  [[noreturn]] void fail_with(const std::string& key, const std::string& message) const;

  /// An integer (an integral float such as 64.0 counts) in `range`.
  std::int64_t integer(const std::string& key, std::int64_t fallback,
                       Interval range = Interval()) const;
  /// A finite number in `range`.
  double number(const std::string& key, double fallback, Interval range = Interval()) const;
  bool boolean(const std::string& key, bool fallback) const;
  /// A string; `non_empty` refuses "".
  std::string string(const std::string& key, std::string fallback, bool non_empty = false) const;
  /// A string that is one of `choices`.
  std::string choice(const std::string& key, std::string fallback,
                     const std::vector<std::string>& choices) const;
  /// A string naming one of `choices`' values.
  template <typename E>
  E choice_of(const std::string& key, E fallback,
           const std::vector<std::pair<std::string, E>>& choices) const {
    if (!has(key)) return fallback;
    std::vector<std::string> names;
    for (const auto& c : choices) names.push_back(c.first);
    const std::string word = choice(key, std::string(), names);
    for (const auto& c : choices)
      if (c.first == word) return c.second;
    return fallback;  // not reached: choice() refused any other word
  }
  /// A member that must be an object (absent: null).
  const nlohmann::json& object(const std::string& key) const;

 private:
  const nlohmann::json& object_;
  std::string where_;
  Naming naming_;
};

/// True for a JSON integer, or a float with an integral value of at most 2^53 (exactly
/// representable), such as 64.0 from a random search.
bool is_integral(const nlohmann::json& value);

/// `"a", "b", "c"`: a list of choices as a message shows it.
std::string quoted_list(const std::vector<std::string>& words);

/// A value as a message shows it: its JSON text, cut to about 60 characters.
std::string shown(const nlohmann::json& value);

}  // namespace ns::core
