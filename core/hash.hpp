#pragma once
// Hashing and seed derivation. Trial ids and seeds are built from these: changing one changes
// every trial's id and seed, and a sweep could no longer resume.
#include <cstdint>
#include <string>

namespace ns::core {

/// 64-bit FNV-1a of `s`, continuing from `h` (the FNV offset basis by default).
inline std::uint64_t fnv1a(const std::string& s, std::uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

/// SplitMix64's output function (Steele, Lea & Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): one step of the generator whose state was `x`.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/// The seed of sub-stream `stream` of `seed` (splitmix64 of seed + (stream + 1) * golden
/// gamma, minus the one gamma splitmix64 adds itself), so sub-streams of one seed are
/// independent.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) {
  return splitmix64(seed + 0x9E3779B97F4A7C15ULL * stream);
}

/// A double in [0, 1) from the top 53 bits of `x`.
inline double unit_double(std::uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }

}  // namespace ns::core
