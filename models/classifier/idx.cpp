#include "models/classifier/idx.hpp"

#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <memory>

#include "core/error.hpp"
#include "core/file.hpp"
#include "core/json.hpp"

namespace ns::models::classifier {
namespace fs = std::filesystem;

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const {
    if (f) gzclose(f);
  }
};
using GzPtr = std::unique_ptr<gzFile_s, GzCloser>;

// Reads up to `n` bytes; returns how many arrived. gzread takes an unsigned count, so large
// reads go in chunks.
std::size_t read_bytes(gzFile f, std::uint8_t* dst, std::size_t n, const fs::path& path) {
  std::size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
    const int got = gzread(f, dst + done, chunk);
    if (got < 0) {
      int errnum = 0;
      const char* msg = gzerror(f, &errnum);
      NS_FAIL_CODE(kExitBadInput,
                   "{}: cannot read IDX data ({}); the file is damaged (a broken download?): "
                   "fetch it again",
                   path.string(), msg ? msg : "unknown zlib error");
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}

std::string kind_name(int dims) { return dims == 1 ? "labels" : dims == 3 ? "images" : "array"; }

// null or absent = every image (-1).
std::int64_t read_limit(const core::JsonFields& f, const nlohmann::json& data, const char* key) {
  if (!data.contains(key) || data.at(key).is_null()) return -1;
  if (!data.at(key).is_number() || data.at(key).get<double>() < 1)
    f.fail(key, "null (all images) or a positive integer");
  return f.integer(key, -1, core::Interval::at_least(1));
}

IdxSplit load_split(const fs::path& dir, const std::string& prefix, std::int64_t limit,
                    int num_classes) {
  IdxSplit s;
  s.images = read_idx(find_idx_file(dir, prefix + "-images-idx3-ubyte"), 3, limit);
  s.labels = read_idx(find_idx_file(dir, prefix + "-labels-idx1-ubyte"), 1, limit);
  // Compare what the headers declare, so a mismatch is caught whatever the limit.
  NS_CHECK(s.images.declared_items == s.labels.declared_items,
           "image/label count mismatch: {} holds {} images but {} holds {} labels; the two files "
           "must come from the same release",
           s.images.path, s.images.declared_items, s.labels.path, s.labels.declared_items);
  for (std::size_t i = 0; i < s.labels.data.size(); ++i) {
    NS_CHECK(s.labels.data[i] < num_classes,
             "{}: label {} at index {} is outside 0..{} (the convnet family has {} classes)",
             s.labels.path, int(s.labels.data[i]), i, num_classes - 1, num_classes);
  }
  NS_CHECK(s.images.dims[1] > 0 && s.images.dims[2] > 0, "{}: empty image size {}x{}",
           s.images.path, s.images.dims[1], s.images.dims[2]);
  NS_CHECK(s.count() > 0, "{}: holds no images", s.images.path);
  return s;
}

// Reads and checks the magic number and the sizes; leaves `f` at the first data byte.
std::vector<std::uint32_t> read_header(gzFile f, const fs::path& path, int expected_dims) {
  std::uint8_t magic[4];
  const std::size_t got = read_bytes(f, magic, 4, path);
  NS_CHECK(got == 4,
           "{}: truncated IDX file: {} bytes, shorter than its 4-byte magic number; fetch it again",
           path.string(), got);
  const std::uint32_t m = be32(magic);
  const std::uint32_t want = 0x0800u | static_cast<std::uint32_t>(expected_dims);
  if (m != want) {
    std::string what = "not an IDX file";
    if (magic[0] == 0 && magic[1] == 0) {
      what = magic[2] == 0x08
                 ? fmt::format("an IDX file of unsigned bytes with {} dimension(s)", int(magic[3]))
                 : fmt::format("an IDX file of element type 0x{:02x}, not unsigned bytes (0x08)",
                               int(magic[2]));
    }
    NS_FAIL_CODE(kExitBadInput,
                 "{}: wrong magic number 0x{:08x}, expected 0x{:08x} (IDX {}: unsigned bytes, {} "
                 "dimension(s)); the file is {}. Check that it is the right file, not swapped or "
                 "corrupted",
                 path.string(), m, want, kind_name(expected_dims), expected_dims, what);
  }
  std::vector<std::uint8_t> raw(4 * static_cast<std::size_t>(expected_dims));
  const std::size_t got_dims = read_bytes(f, raw.data(), raw.size(), path);
  NS_CHECK(got_dims == raw.size(),
           "{}: truncated IDX file: the header needs {} size fields, the file ends after {} bytes; "
           "fetch it again",
           path.string(), expected_dims, 4 + got_dims);
  std::vector<std::uint32_t> dims(expected_dims);
  for (int d = 0; d < expected_dims; ++d) dims[d] = be32(raw.data() + 4 * d);
  return dims;
}

}  // namespace

IdxArray read_idx(const fs::path& path, int expected_dims, std::int64_t max_items) {
  NS_CHECK(expected_dims >= 1 && expected_dims <= 4, "read_idx: unsupported dimension count {}",
           expected_dims);
  NS_CHECK(fs::exists(path), "{}: IDX file not found", path.string());
  core::require_regular_file(path.string(), "IDX file");  // gzopen would block on a FIFO
  GzPtr f(gzopen(path.c_str(), "rb"));
  NS_CHECK(f != nullptr, "{}: cannot open IDX file (permissions?)", path.string());
  gzbuffer(f.get(), 1u << 20);

  IdxArray out;
  out.path = path.string();
  out.dims = read_header(f.get(), path, expected_dims);
  out.declared_items = out.dims[0];

  // Sizes from a damaged header can be anything: multiply in 128 bits, and allocate no more than
  // the file can hold (deflate expands at most ~1032:1, so a .gz file of S bytes holds at most
  // about 1032 S bytes of data; a plain file S - header).
  unsigned __int128 item_wide = 1;
  for (int d = 1; d < expected_dims; ++d) item_wide *= out.dims[d];
  const std::int64_t declared = out.dims[0];
  const std::int64_t items = max_items < 0 ? declared : std::min(declared, max_items);
  const unsigned __int128 want_wide = item_wide * static_cast<unsigned __int128>(items);
  std::error_code ec;
  const auto file_bytes = static_cast<unsigned __int128>(fs::file_size(path, ec));
  const unsigned __int128 can_hold = ec ? want_wide : file_bytes * 1032 + (1u << 20);
  NS_CHECK(want_wide <= can_hold,
           "{}: damaged IDX header: its sizes {} ({}) declare more data than a file of {} bytes "
           "can hold; fetch the file again",
           path.string(), fmt::join(out.dims, "x"), kind_name(expected_dims),
           static_cast<std::uint64_t>(file_bytes));
  const std::size_t item = static_cast<std::size_t>(item_wide);
  const std::size_t want = static_cast<std::size_t>(want_wide);
  out.data.resize(want);
  const std::size_t got = read_bytes(f.get(), out.data.data(), want, path);
  if (got != want) {
    int errnum = 0;
    const char* zmsg = gzerror(f.get(), &errnum);
    NS_FAIL_CODE(kExitBadInput,
                 "{}: truncated IDX file: the header declares {} {} of {} bytes ({} bytes of data "
                 "wanted), but the data ends after {} bytes{}; fetch the file again",
                 path.string(), declared, kind_name(expected_dims), item, want, got,
                 errnum != Z_OK && zmsg ? fmt::format(" (zlib: {})", zmsg) : std::string());
  }
  out.dims[0] = static_cast<std::uint32_t>(items);
  return out;
}

void write_idx(const fs::path& path, const std::vector<std::uint32_t>& dims,
               const std::vector<std::uint8_t>& data) {
  const bool gz = path.extension() == ".gz";
  GzPtr f(gzopen(path.c_str(), gz ? "wb" : "wbT"));
  NS_CHECK(f != nullptr, "{}: cannot create file", path.string());
  std::vector<std::uint8_t> head = {0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    head.push_back(std::uint8_t(d >> 24));
    head.push_back(std::uint8_t(d >> 16));
    head.push_back(std::uint8_t(d >> 8));
    head.push_back(std::uint8_t(d));
  }
  NS_CHECK(gzwrite(f.get(), head.data(), static_cast<unsigned>(head.size())) ==
               static_cast<int>(head.size()),
           "{}: write failed", path.string());
  if (!data.empty()) {
    NS_CHECK(gzwrite(f.get(), data.data(), static_cast<unsigned>(data.size())) ==
                 static_cast<int>(data.size()),
             "{}: write failed", path.string());
  }
  NS_CHECK(gzclose(f.release()) == Z_OK, "{}: close failed", path.string());
}

fs::path find_idx_file(const fs::path& dir, const std::string& stem) {
  const fs::path gz = dir / (stem + ".gz");
  const fs::path plain = dir / stem;
  if (fs::exists(gz)) return gz;
  if (fs::exists(plain)) return plain;
  NS_FAIL_CODE(
      kExitBadInput,
      "IDX file not found: neither {} nor {} exists. The data block's \"dir\" must hold "
      "the MNIST-layout files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
      "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]); on Debian, "
      "`apt-get install dataset-fashion-mnist` puts Fashion-MNIST in "
      "/usr/share/datasets/fashion-mnist",
      gz.string(), plain.string());
}

IdxDataOptions IdxDataOptions::from_json(const nlohmann::json& data, const std::string& json_path) {
  NS_CHECK(data.is_object(),
           "{}: expected an object like {{\"kind\": \"idx\", \"dir\": \"...\"}}, "
           "got {}",
           json_path, data.dump());
  for (const auto& [key, value] : data.items()) {
    (void)value;
    NS_CHECK(key == "kind" || key == "dir" || key == "limit" || key == "test_limit",
             "{}.{}: unknown key for an \"idx\" data block; known: kind, dir, limit, test_limit",
             json_path, key);
  }
  NS_CHECK(data.contains("kind") && data.at("kind") == "idx",
           "{}.kind: the convnet family reads IDX image files: expected \"idx\", got {}", json_path,
           data.contains("kind") ? data.at("kind").dump() : std::string("nothing"));
  const core::JsonFields f(data, json_path);
  const auto& dir = data.contains("dir") ? data.at("dir") : nlohmann::json();
  if (!dir.is_string() || dir.get<std::string>().empty())
    f.fail("dir", "the directory holding the IDX files (e.g. \"/usr/share/datasets/fashion-mnist\")");
  IdxDataOptions o;
  o.dir = dir.get<std::string>();
  o.limit = read_limit(f, data, "limit");
  o.test_limit = read_limit(f, data, "test_limit");
  NS_CHECK(fs::is_directory(o.dir), "{}.dir: \"{}\" is not a directory", json_path, o.dir);
  // The files load_idx_dir would read (find_idx_file's choice) must be regular files; a missing
  // one is reported when it is read.
  for (const char* stem : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    const fs::path gz = fs::path(o.dir) / (std::string(stem) + ".gz");
    if (!core::require_regular_file(gz.string(), json_path + ".dir"))
      core::require_regular_file((fs::path(o.dir) / stem).string(), json_path + ".dir");
  }
  return o;
}

nlohmann::json IdxDataOptions::to_json() const {
  return {{"kind", "idx"},
          {"dir", dir},
          {"limit", limit < 0 ? nlohmann::json(nullptr) : nlohmann::json(limit)},
          {"test_limit", test_limit < 0 ? nlohmann::json(nullptr) : nlohmann::json(test_limit)}};
}

IdxDataset load_idx_dir(const IdxDataOptions& opts, int num_classes) {
  IdxDataset ds;
  ds.train = load_split(opts.dir, "train", opts.limit, num_classes);
  ds.test = load_split(opts.dir, "t10k", opts.test_limit, num_classes);
  NS_CHECK(ds.test.rows() == ds.train.rows() && ds.test.cols() == ds.train.cols(),
           "{} holds {}x{} images but {} holds {}x{}: train and test sets must match",
           ds.train.images.path, ds.train.rows(), ds.train.cols(), ds.test.images.path,
           ds.test.rows(), ds.test.cols());
  return ds;
}

}  // namespace ns::models::classifier
