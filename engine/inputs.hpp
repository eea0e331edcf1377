#pragma once
// Content fingerprints of the files a sweep's trials read (ModelFamily::input_files): SHA-256
// from OpenSSL's libcrypto, cached by file identity so that a rerun does not reread gigabytes.
// sweep.json records them, and a rerun whose files changed is refused (engine/sweep_output.cpp;
// docs/formats.md "Inputs").
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/trial_runner.hpp"

namespace ns::engine {

/// SHA-256 of `data`, 64 lowercase hex digits.
std::string sha256_hex(const std::string& data);

/// What the cache takes as "the same content" without reading a file: its size, modification
/// and status-change times (nanoseconds), inode and device. A rewrite changes the ctime even
/// when the writer restores size and mtime (`touch -d`, `cp -p`, rsync -t set the mtime only;
/// the kernel sets the ctime to the present on every write and every utimensat).
struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t inode = 0;
  std::uint64_t device = 0;
  bool operator==(const FileStamp& o) const {
    return size == o.size && mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns && inode == o.inode &&
           device == o.device;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
  nlohmann::json to_json() const;
};

/// The stamp of `path` (following symbolic links); nullopt when it cannot be stat'ed.
std::optional<FileStamp> file_stamp(const std::filesystem::path& path);

/// SHA-256 of a file's content; `stamp`, when given, receives the file's stamp as it was read
/// (unset when the file changed while it was read). Throws ns::Error naming the file.
std::string sha256_file(const std::filesystem::path& path,
                        std::optional<FileStamp>* stamp = nullptr);

/// Digests by file, kept in a JSON file (the output directory's `.inputs-cache.json`):
/// {"version": 1, "files": {"<absolute path>": {"size", "mtime_ns", "ctime_ns", "inode",
/// "device", "sha256"}}}. A file whose stamp equals its entry's is not read again.
///
/// Limits: the stamp is trusted. A rewrite that keeps size, mtime, ctime, inode and device all
/// equal goes unseen: that needs the clock set back (ctime cannot be set by a program) or a
/// write to the block device; (size, mtime, inode) alone would miss a same-size rewrite whose
/// writer restored the mtime, which is why the ctime is part of the key. On filesystems with
/// coarse timestamps two writes within one tick have equal stamps: a file changed less than
/// `racy_s` before it was digested is not cached (as git treats "racily clean" entries), so the
/// next run reads it again. A network filesystem's client may show a stale stamp of a file
/// another host rewrote for its attribute cache time (NFS: up to a minute).
class DigestCache {
 public:
  /// Reads `file` when it exists (no file, or one that cannot be read: an empty cache, which
  /// only costs rereads). An empty path: a cache that is never saved.
  explicit DigestCache(std::filesystem::path file = {});

  /// SHA-256 and size of `path` (absolute): the cached digest when the stamp is the entry's,
  /// else read (and remembered when the file is not racy). Throws ns::Error naming the file.
  std::string digest(const std::filesystem::path& path, std::uint64_t* bytes);

  /// Writes the cache atomically (core::write_file_atomic), dropping entries of files that no
  /// longer exist or changed. No file name: nothing.
  void save() const;

  int hits() const { return hits_; }
  int reads() const { return reads_; }
  const std::filesystem::path& file() const { return file_; }

  /// Seconds: a file whose mtime or ctime is this close to the moment it was read is not cached.
  double racy_s = 2;

 private:
  std::filesystem::path file_;
  std::map<std::string, nlohmann::json> entries_;
  int hits_ = 0, reads_ = 0;
};

/// `<dir>/.inputs-cache.json`: where `run` keeps its digest cache (in the output directory).
std::filesystem::path input_cache_path(const std::string& dir);

/// One fingerprinted input of a sweep (sweep.json "inputs").
struct InputDigest {
  std::string path;      ///< as the family declared it, lexically normal (what runs compare)
  std::string resolved;  ///< absolute
  std::string role;      ///< InputPath::role
  std::uint64_t bytes = 0;
  std::string sha256;
  nlohmann::json to_json() const;
  /// Throws ns::Error when `j` lacks a field.
  static InputDigest from_json(const nlohmann::json& j);
};

/// The digests of `files`, each path once (the first role declared wins), sorted by path.
/// Relative paths are taken from the working directory, as the families open them.
std::vector<InputDigest> digest_inputs(const std::vector<InputPath>& files, DigestCache& cache);

/// A JSON array of the digests (sweep.json "inputs").
nlohmann::json inputs_json(const std::vector<InputDigest>& inputs);

/// 16 hex digits of SHA-256 over the sorted (path, sha256) pairs: one short name for a set.
std::string input_set_digest(const std::vector<InputDigest>& inputs);

/// How the current inputs differ from what a directory's rows were run with.
struct InputChange {
  std::string path;
  std::optional<InputDigest> before;  ///< unset: a file the earlier runs did not read (added)
  std::optional<InputDigest> after;   ///< unset: a file this spec no longer reads (removed)
  bool changed() const { return before && after && before->sha256 != after->sha256; }
  /// "train.py (program): sha256 1a2b3c4d5e6f7a8b.. 812 bytes -> sha256 9f8e7d6c5b4a3f2e.. 840
  /// bytes"
  std::string describe() const;
  nlohmann::json to_json() const;
};

/// The last digest of each path that `sweep_json` (an earlier run's sweep.json) recorded, in
/// "inputs" and in every "input_history" entry (so a file dropped by a narrower spec and taken
/// up again is still compared with what its rows read). Empty when it recorded none.
std::map<std::string, InputDigest> recorded_inputs(const nlohmann::json& sweep_json);

/// Every difference between `recorded` and `now`: changed content first, then added and
/// removed files, each sorted by path.
std::vector<InputChange> compare_inputs(const std::map<std::string, InputDigest>& recorded,
                                        const std::vector<InputDigest>& now);

}  // namespace ns::engine
