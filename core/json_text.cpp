#include "core/json_text.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "core/error.hpp"

namespace ns::core {
namespace {

// Thrown from the parser callback to stop at the first broken limit.
struct Refused {
  std::string why;
};

bool plain_key(const std::string& k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (unsigned char c : k)
    if (!std::isalnum(c) && c != '_') return false;
  return true;
}

// Where the parser is, as a JSON path ("$.grid.lr[2]"), with the keys seen in each object.
class Walk {
 public:
  explicit Walk(const JsonLimits& limits) : limits_(limits) {}

  bool on(nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        if (static_cast<int>(frames_.size()) >= limits_.max_depth)
          throw Refused{fmt::format("{}: nested deeper than {} levels", path(), limits_.max_depth)};
        frames_.push_back(Frame{event == E::object_start, {}, {}, 0});
        break;
      case E::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        check_nul(f.key);
        if (limits_.refuse_duplicate_keys && !f.keys.insert(f.key).second)
          throw Refused{fmt::format("{}: the key appears twice in one object (which one "
                                    "counts would be a guess)", path())};
        break;
      }
      case E::value:
        if (parsed.is_string()) check_nul(parsed.get_ref<const std::string&>());
        advance();
        break;
      case E::object_end:
      case E::array_end:
        frames_.pop_back();
        advance();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool object;
    std::set<std::string> keys;
    std::string key;
    std::size_t index;
  };

  std::string path() const {
    std::string p = "$";
    for (const Frame& f : frames_) {
      if (!f.object) {
        p += fmt::format("[{}]", f.index);
      } else if (plain_key(f.key)) {
        p += "." + f.key;
      } else {
        p += "[" + nlohmann::json(f.key).dump() + "]";
      }
    }
    return p;
  }

  void advance() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
  }

  void check_nul(const std::string& s) const {
    if (limits_.refuse_nul && s.find('\0') != std::string::npos)
      throw Refused{fmt::format("{}: a string holds a NUL character (\\u0000), which no file "
                                "name, argument or CSV cell can carry", path())};
  }

  const JsonLimits& limits_;
  std::vector<Frame> frames_;
};

// nlohmann's message without its "[json.exception...] " prefix, in words a user reads.
std::string parse_message(const std::string& what) {
  const auto p = what.find("] ");
  std::string m = p == std::string::npos ? what : what.substr(p + 2);
  if (m.rfind("number overflow", 0) == 0)
    return "a number too large for a double (" + m + "); write it within +-1.8e308";
  return "not valid JSON: " + m;
}

}  // namespace

std::optional<nlohmann::json> try_parse_json(std::string_view text, const JsonLimits& limits,
                                             std::string* why) {
  auto refuse = [&](std::string reason) -> std::optional<nlohmann::json> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (text.size() > limits.max_bytes)
    return refuse(fmt::format("{} bytes of JSON, more than the {} allowed", text.size(),
                              limits.max_bytes));
  Walk walk(limits);
  try {
    return nlohmann::json::parse(
        text.begin(), text.end(),
        [&walk](int, nlohmann::json::parse_event_t e, nlohmann::json& parsed) {
          return walk.on(e, parsed);
        });
  } catch (const Refused& r) {
    return refuse(r.why);
  } catch (const nlohmann::json::exception& e) {
    return refuse(parse_message(e.what()));
  }
}

nlohmann::json parse_json(std::string_view text, const std::string& where,
                          const JsonLimits& limits, int exit_code) {
  std::string why;
  auto j = try_parse_json(text, limits, &why);
  if (!j) NS_FAIL_CODE(exit_code, "{}: {}", where, why);
  return std::move(*j);
}

nlohmann::json read_json_file(const std::string& path, const JsonLimits& limits, int exit_code) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    NS_FAIL_CODE(exit_code, "{}: cannot open the file (does it exist and is it readable?)", path);
  if (!S_ISREG(st.st_mode))
    NS_FAIL_CODE(exit_code, "{}: expected a regular file, got {}", path,
                 S_ISDIR(st.st_mode) ? "a directory" : "a pipe, socket or device");
  if (static_cast<std::size_t>(st.st_size) > limits.max_bytes)
    NS_FAIL_CODE(exit_code, "{}: {} bytes, more than the {} a JSON file may have here", path,
                 st.st_size, limits.max_bytes);
  std::ifstream in(path, std::ios::binary);
  if (!in) NS_FAIL_CODE(exit_code, "{}: cannot open the file (does it exist and is it readable?)", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_json(ss.str(), path, limits, exit_code);
}

}  // namespace ns::core
