#pragma once
// Catch2 behind one header, 2.x (Debian 12: catch2/catch.hpp) or 3.x (Debian 13:
// catch2/catch_all.hpp). The tests are written with 2.x's names; for 3.x this gives them:
// Catch::Contains and Catch::Equals on strings, and a global Approx.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>

#include <string>

namespace Catch {
inline Matchers::StringContainsMatcher Contains(const std::string& s,
                                                CaseSensitive cs = CaseSensitive::Yes) {
  return Matchers::ContainsSubstring(s, cs);
}
inline Matchers::StringEqualsMatcher Equals(const std::string& s,
                                            CaseSensitive cs = CaseSensitive::Yes) {
  return Matchers::Equals(s, cs);
}
}  // namespace Catch
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif
