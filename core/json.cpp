#include "core/json.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace ns::core {
namespace {

const nlohmann::json& null_json() {
  static const nlohmann::json null;
  return null;
}

std::string number_text(double x) { return fmt::format("{}", x); }

}  // namespace

bool Interval::contains(double x) const {
  return (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
}

std::string Interval::describe() const {
  const bool has_lo = std::isfinite(lo), has_hi = std::isfinite(hi);
  if (has_lo && has_hi) {
    return fmt::format(" in {}{}, {}{}", lo_open ? "(" : "[", number_text(lo), number_text(hi),
                       hi_open ? ")" : "]");
  }
  if (has_lo) return fmt::format(" {} {}", lo_open ? ">" : ">=", number_text(lo));
  if (has_hi) return fmt::format(" {} {}", hi_open ? "<" : "<=", number_text(hi));
  return "";
}

bool is_integral(const nlohmann::json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= 9.007199254740992e15;
}

std::string quoted_list(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "\"" : ", \"") + w + "\"";
  return out;
}

namespace {
// Appends `v`'s JSON text to `out`, stopping once `out` holds more than `limit` characters: the
// recursion is as deep as the characters written, so a value nested 100000 deep costs 60 frames.
void dump_upto(const nlohmann::json& v, std::string& out, std::size_t limit) {
  if (out.size() > limit) return;
  if (v.is_object() || v.is_array()) {
    out += v.is_object() ? '{' : '[';
    bool first = true;
    for (auto it = v.begin(); it != v.end() && out.size() <= limit; ++it) {
      if (!first) out += ',';
      first = false;
      if (v.is_object()) out += nlohmann::json(it.key()).dump() + ':';
      dump_upto(it.value(), out, limit);
    }
    out += v.is_object() ? '}' : ']';
  } else if (v.is_string() && v.get_ref<const std::string&>().size() > limit) {
    out += nlohmann::json(v.get_ref<const std::string&>().substr(0, limit)).dump();
  } else {
    out += v.dump();
  }
}
}  // namespace

std::string shown(const nlohmann::json& value) {
  std::string text;
  dump_upto(value, text, 60);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

JsonFields::JsonFields(const nlohmann::json& object, std::string where, Naming naming)
    : object_(object), where_(std::move(where)), naming_(naming) {}

bool JsonFields::has(const std::string& key) const {
  return object_.is_object() && object_.contains(key);
}

std::string JsonFields::name(const std::string& key) const {
  return naming_ == Naming::kPath ? fmt::format("{}.{}", where_, key)
                                  : fmt::format("{} '{}'", where_, key);
}

void JsonFields::fail(const std::string& key, const std::string& expected) const {
  throw Error(fmt::format("{}: expected {}, got {}", name(key), expected,
                          has(key) ? shown(object_.at(key)) : std::string("nothing")));
}

void JsonFields::fail_with(const std::string& key, const std::string& message) const {
  throw Error(fmt::format("{}: {}", name(key), message));
}

std::int64_t JsonFields::integer(const std::string& key, std::int64_t fallback,
                                 Interval range) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = object_.at(key);
  const std::string what = "an integer" + range.describe();
  if (v.is_number_integer()) {
    // Unsigned values above int64's range are refused rather than wrapped.
    if (v.is_number_unsigned() &&
        v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(key, what);
    const std::int64_t x = v.get<std::int64_t>();
    if (!range.contains(static_cast<double>(x))) fail(key, what);
    return x;
  }
  if (!is_integral(v)) fail(key, what);
  const double d = v.get<double>();
  if (!range.contains(d)) fail(key, what);
  return static_cast<std::int64_t>(d);
}

double JsonFields::number(const std::string& key, double fallback, Interval range) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = object_.at(key);
  const std::string what = "a finite number" + range.describe();
  if (!v.is_number()) fail(key, what);
  const double x = v.get<double>();
  if (!std::isfinite(x) || !range.contains(x)) fail(key, what);
  return x;
}

bool JsonFields::boolean(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = object_.at(key);
  if (!v.is_boolean()) fail(key, "true or false");
  return v.get<bool>();
}

std::string JsonFields::string(const std::string& key, std::string fallback,
                               bool non_empty) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = object_.at(key);
  if (!v.is_string()) fail(key, non_empty ? "a non-empty string" : "a string");
  if (non_empty && v.get_ref<const std::string&>().empty()) fail(key, "a non-empty string");
  return v.get<std::string>();
}

std::string JsonFields::choice(const std::string& key, std::string fallback,
                               const std::vector<std::string>& choices) const {
  if (!has(key)) return fallback;
  const nlohmann::json& v = object_.at(key);
  if (v.is_string())
    for (const auto& c : choices)
      if (v.get_ref<const std::string&>() == c) return c;
  fail(key, "one of " + quoted_list(choices));
}

const nlohmann::json& JsonFields::object(const std::string& key) const {
  if (!has(key)) return null_json();
  const nlohmann::json& v = object_.at(key);
  if (!v.is_object()) fail(key, "an object");
  return v;
}

}  // namespace ns::core
