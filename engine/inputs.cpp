#include "engine/inputs.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "core/file.hpp"

namespace ns::engine {
namespace fs = std::filesystem;

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

MdCtx sha256_context(const std::string& what) {
  MdCtx ctx(EVP_MD_CTX_new());
  NS_CHECK(ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1,
           "{}: cannot start a SHA-256 digest (OpenSSL)", what);
  return ctx;
}

std::string finish_hex(EVP_MD_CTX* ctx, const std::string& what) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  NS_CHECK(EVP_DigestFinal_ex(ctx, md, &n) == 1, "{}: SHA-256 failed (OpenSSL)", what);
  std::string hex;
  hex.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

FileStamp stamp_of(const struct stat& st) {
  FileStamp s;
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  s.inode = static_cast<std::uint64_t>(st.st_ino);
  s.device = static_cast<std::uint64_t>(st.st_dev);
  return s;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string short_hex(const std::string& sha) { return sha.substr(0, 16); }

}  // namespace

std::string sha256_hex(const std::string& data) {
  MdCtx ctx = sha256_context("sha256_hex");
  NS_CHECK(EVP_DigestUpdate(ctx.get(), data.data(), data.size()) == 1, "SHA-256 failed (OpenSSL)");
  return finish_hex(ctx.get(), "sha256_hex");
}

nlohmann::json FileStamp::to_json() const {
  return {{"size", size},
          {"mtime_ns", mtime_ns},
          {"ctime_ns", ctime_ns},
          {"inode", inode},
          {"device", device}};
}

std::optional<FileStamp> file_stamp(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return stamp_of(st);
}

std::string sha256_file(const fs::path& path, std::optional<FileStamp>* stamp) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  NS_CHECK(fd >= 0, "{}: cannot open it to compute its digest: {}", path.string(),
           std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat before {};
  NS_CHECK(::fstat(fd, &before) == 0, "{}: cannot stat it: {}", path.string(),
           std::strerror(errno));
  NS_CHECK(S_ISREG(before.st_mode), "{}: not a regular file", path.string());
  MdCtx ctx = sha256_context(path.string());
  std::vector<char> buf(std::size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    NS_CHECK(n >= 0, "{}: cannot read it to compute its digest: {}", path.string(),
             std::strerror(errno));
    if (n == 0) break;
    NS_CHECK(EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n)) == 1,
             "{}: SHA-256 failed (OpenSSL)", path.string());
  }
  struct stat after {};
  const bool same = ::fstat(fd, &after) == 0 && stamp_of(before) == stamp_of(after);
  if (stamp) *stamp = same ? std::optional<FileStamp>(stamp_of(before)) : std::nullopt;
  return finish_hex(ctx.get(), path.string());
}

DigestCache::DigestCache(fs::path file) : file_(std::move(file)) {
  if (file_.empty()) return;
  std::error_code ec;
  if (!fs::is_regular_file(file_, ec)) return;
  std::ifstream in(file_);
  std::stringstream text;
  text << in.rdbuf();
  const auto j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1) return;
  const auto files = j.find("files");
  if (files == j.end() || !files->is_object()) return;
  for (const auto& [path, e] : files->items()) {
    if (e.is_object() && e.contains("sha256") && e.at("sha256").is_string()) entries_[path] = e;
  }
}

std::string DigestCache::digest(const fs::path& path, std::uint64_t* bytes) {
  const std::string key = path.string();
  if (const auto now = file_stamp(path)) {
    const auto it = entries_.find(key);
    if (it != entries_.end()) {
      nlohmann::json want = now->to_json();
      bool same = true;
      for (const auto& [k, v] : want.items())
        same = same && it->second.value(k, nlohmann::json()) == v;
      if (same) {
        ++hits_;
        if (bytes) *bytes = now->size;
        return it->second.at("sha256").get<std::string>();
      }
    }
  }
  const std::int64_t started = now_ns();
  std::optional<FileStamp> stamp;
  const std::string sha = sha256_file(path, &stamp);
  ++reads_;
  entries_.erase(key);
  const auto racy = static_cast<std::int64_t>(racy_s * 1e9);
  if (stamp && stamp->mtime_ns < started - racy && stamp->ctime_ns < started - racy) {
    nlohmann::json e = stamp->to_json();
    e["sha256"] = sha;
    entries_[key] = e;
  }
  if (bytes) *bytes = stamp ? stamp->size : file_stamp(path).value_or(FileStamp{}).size;
  return sha;
}

void DigestCache::save() const {
  if (file_.empty()) return;
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [path, e] : entries_) {
    const auto now = file_stamp(path);
    if (!now) continue;
    bool same = true;
    const nlohmann::json stamp = now->to_json();
    for (const auto& [k, v] : stamp.items()) same = same && e.value(k, nlohmann::json()) == v;
    if (same) files[path] = e;
  }
  core::write_file_atomic(file_, nlohmann::json{{"version", 1}, {"files", files}}.dump(1) + "\n");
}

fs::path input_cache_path(const std::string& dir) { return fs::path(dir) / ".inputs-cache.json"; }

nlohmann::json InputDigest::to_json() const {
  return {
      {"path", path}, {"resolved", resolved}, {"role", role}, {"bytes", bytes}, {"sha256", sha256}};
}

InputDigest InputDigest::from_json(const nlohmann::json& j) {
  NS_CHECK(j.is_object() && j.contains("path") && j.contains("sha256"),
           "an input record without \"path\" and \"sha256\": {}", j.dump().substr(0, 120));
  InputDigest d;
  d.path = j.at("path").get<std::string>();
  d.sha256 = j.at("sha256").get<std::string>();
  d.resolved = j.value("resolved", d.path);
  d.role = j.value("role", "");
  d.bytes = j.value("bytes", std::uint64_t{0});
  return d;
}

std::vector<InputDigest> digest_inputs(const std::vector<InputPath>& files, DigestCache& cache) {
  std::map<std::string, InputDigest> by_path;
  for (const auto& f : files) {
    const std::string path = f.path.lexically_normal().string();
    if (by_path.count(path)) continue;
    InputDigest d;
    d.path = path;
    d.role = f.role;
    d.resolved = fs::absolute(f.path).lexically_normal().string();
    d.sha256 = cache.digest(d.resolved, &d.bytes);
    by_path.emplace(path, std::move(d));
  }
  std::vector<InputDigest> out;
  for (auto& [path, d] : by_path) out.push_back(std::move(d));
  return out;
}

nlohmann::json inputs_json(const std::vector<InputDigest>& inputs) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& d : inputs) a.push_back(d.to_json());
  return a;
}

std::string input_set_digest(const std::vector<InputDigest>& inputs) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& d : inputs) pairs.emplace_back(d.path, d.sha256);
  std::sort(pairs.begin(), pairs.end());
  std::string text;
  for (const auto& [p, s] : pairs) text += p + '\0' + s + '\n';
  return short_hex(sha256_hex(text));
}

std::string InputChange::describe() const {
  auto side = [](const InputDigest& d) {
    return fmt::format("sha256 {}.. {} bytes", short_hex(d.sha256), d.bytes);
  };
  const std::string role = after ? after->role : before ? before->role : "";
  if (before && after)
    return fmt::format("{} ({}): {} -> {}", path, role, side(*before), side(*after));
  if (after) return fmt::format("{} ({}): new, {}", path, role, side(*after));
  return fmt::format("{} ({}): no longer read (was {})", path, role, before ? side(*before) : "");
}

nlohmann::json InputChange::to_json() const {
  nlohmann::json j = {{"path", path}};
  if (before)
    j["before"] = {{"sha256", before->sha256}, {"bytes", before->bytes}, {"role", before->role}};
  if (after)
    j["after"] = {{"sha256", after->sha256}, {"bytes", after->bytes}, {"role", after->role}};
  return j;
}

std::map<std::string, InputDigest> recorded_inputs(const nlohmann::json& sweep_json) {
  std::map<std::string, InputDigest> out;
  auto take = [&](const nlohmann::json& list) {
    if (!list.is_array()) return;
    for (const auto& e : list) {
      try {
        InputDigest d = InputDigest::from_json(e);
        out[d.path] = std::move(d);
      } catch (const std::exception&) {
        // a damaged record compares as absent
      }
    }
  };
  if (!sweep_json.is_object()) return out;
  if (const auto h = sweep_json.find("input_history"); h != sweep_json.end() && h->is_array())
    for (const auto& entry : *h)
      if (entry.is_object() && entry.contains("inputs")) take(entry.at("inputs"));
  if (const auto i = sweep_json.find("inputs"); i != sweep_json.end()) take(*i);
  return out;
}

std::vector<InputChange> compare_inputs(const std::map<std::string, InputDigest>& recorded,
                                        const std::vector<InputDigest>& now) {
  std::vector<InputChange> changed, added, removed;
  std::set<std::string> current;
  for (const auto& d : now) {
    current.insert(d.path);
    const auto it = recorded.find(d.path);
    if (it == recorded.end()) {
      added.push_back({d.path, std::nullopt, d});
    } else if (it->second.sha256 != d.sha256) {
      changed.push_back({d.path, it->second, d});
    }
  }
  for (const auto& [path, d] : recorded)
    if (!current.count(path)) removed.push_back({path, d, std::nullopt});
  auto by_path = [](const InputChange& a, const InputChange& b) { return a.path < b.path; };
  for (auto* v : {&changed, &added, &removed}) std::sort(v->begin(), v->end(), by_path);
  changed.insert(changed.end(), added.begin(), added.end());
  changed.insert(changed.end(), removed.begin(), removed.end());
  return changed;
}

}  // namespace ns::engine
