#pragma once
// Reading checked values out of a flat trial parameter object. Torch-free. Each getter returns
// `fallback` when the key is absent and throws ns::Error naming the parameter, the allowed values
// and what arrived otherwise.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/error.hpp"

namespace ns::models::classifier {

/// Integer parameter in [lo, hi].
inline std::int64_t int_param(const nlohmann::json& p, const char* key, std::int64_t fallback,
                              std::int64_t lo, std::int64_t hi) {
  if (!p.contains(key)) return fallback;
  const auto& v = p.at(key);
  NS_CHECK(v.is_number_integer(), "convnet parameter '{}': expected an integer, got {}", key,
           v.dump());
  const std::int64_t x = v.get<std::int64_t>();
  NS_CHECK(x >= lo && x <= hi, "convnet parameter '{}': expected an integer in [{}, {}], got {}",
           key, lo, hi, x);
  return x;
}

/// Number parameter in [lo, hi] (or (lo, hi] / [lo, hi) when the bound is open).
inline double num_param(const nlohmann::json& p, const char* key, double fallback, double lo,
                        double hi, bool lo_open = false, bool hi_open = false) {
  if (!p.contains(key)) return fallback;
  const auto& v = p.at(key);
  NS_CHECK(v.is_number(), "convnet parameter '{}': expected a number, got {}", key, v.dump());
  const double x = v.get<double>();
  const bool ok = (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
  NS_CHECK(ok, "convnet parameter '{}': expected a number in {}{}, {}{}, got {}", key,
           lo_open ? "(" : "[", lo, hi, hi_open ? ")" : "]", x);
  return x;
}

/// String parameter, one of `choices`.
inline std::string choice_param(const nlohmann::json& p, const char* key, std::string fallback,
                                std::initializer_list<const char*> choices) {
  if (!p.contains(key)) return fallback;
  const auto& v = p.at(key);
  std::string list;
  bool found = false;
  for (const char* c : choices) {
    list += (list.empty() ? "" : ", ") + std::string(c);
    found = found || (v.is_string() && v.get<std::string>() == c);
  }
  NS_CHECK(found, "convnet parameter '{}': expected one of {}, got {}", key, list, v.dump());
  return v.get<std::string>();
}

/// Boolean parameter.
inline bool bool_param(const nlohmann::json& p, const char* key, bool fallback) {
  if (!p.contains(key)) return fallback;
  const auto& v = p.at(key);
  NS_CHECK(v.is_boolean(), "convnet parameter '{}': expected true or false, got {}", key, v.dump());
  return v.get<bool>();
}

}  // namespace ns::models::classifier
