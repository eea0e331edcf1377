// Tests for models/classifier/idx.*: the IDX reader on tiny generated files, gzip and plain, and
// every error it must report with the file's name.
#include "catch.hpp"

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "models/classifier/idx.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using ns::models::classifier::find_idx_file;
using ns::models::classifier::IdxDataOptions;
using ns::models::classifier::load_idx_dir;
using ns::models::classifier::read_idx;
using ns::models::classifier::write_idx;

using ns::test::TempDir;

namespace {

std::vector<std::uint8_t> pixels(std::uint32_t n, std::uint32_t h, std::uint32_t w) {
  std::vector<std::uint8_t> v(std::size_t(n) * h * w);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
  return v;
}

std::vector<std::uint8_t> labels(std::uint32_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::uint32_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 3) % 10);
  return v;
}

// Writes the four MNIST-layout files (n_train / n_test items of h x w).
void write_dir(const fs::path& dir, bool gz, std::uint32_t n_train = 20, std::uint32_t n_test = 8,
               std::uint32_t h = 4, std::uint32_t w = 5) {
  const std::string ext = gz ? ".gz" : "";
  write_idx(dir / ("train-images-idx3-ubyte" + ext), {n_train, h, w}, pixels(n_train, h, w));
  write_idx(dir / ("train-labels-idx1-ubyte" + ext), {n_train}, labels(n_train));
  write_idx(dir / ("t10k-images-idx3-ubyte" + ext), {n_test, h, w}, pixels(n_test, h, w));
  write_idx(dir / ("t10k-labels-idx1-ubyte" + ext), {n_test}, labels(n_test));
}

std::vector<unsigned char> head_bytes(const fs::path& p, std::size_t n) {
  std::ifstream f(p, std::ios::binary);
  std::vector<unsigned char> b(n);
  f.read(reinterpret_cast<char*>(b.data()), static_cast<std::streamsize>(n));
  return b;
}

IdxDataOptions opts_for(const fs::path& dir, std::int64_t limit = -1,
                        std::int64_t test_limit = -1) {
  IdxDataOptions o;
  o.dir = dir.string();
  o.limit = limit;
  o.test_limit = test_limit;
  return o;
}

}  // namespace

TEST_CASE("IDX files read the same gzip-compressed and plain", "[idx]") {
  TempDir gz("gz"), plain("plain");
  write_dir(gz.path, true);
  write_dir(plain.path, false);
  // The two writers really produced different encodings: a gzip member and a bare IDX header.
  const auto g = head_bytes(gz.path / "train-images-idx3-ubyte.gz", 2);
  CHECK((g[0] == 0x1f && g[1] == 0x8b));
  const auto p = head_bytes(plain.path / "train-images-idx3-ubyte", 4);
  CHECK((p[0] == 0 && p[1] == 0 && p[2] == 0x08 && p[3] == 3));

  const auto a = read_idx(gz.path / "train-images-idx3-ubyte.gz", 3);
  const auto b = read_idx(plain.path / "train-images-idx3-ubyte", 3);
  CHECK(a.dims == std::vector<std::uint32_t>{20, 4, 5});
  CHECK(b.dims == a.dims);
  CHECK(a.data == pixels(20, 4, 5));
  CHECK(b.data == a.data);
  const auto l = read_idx(plain.path / "train-labels-idx1-ubyte", 1);
  CHECK(l.dims == std::vector<std::uint32_t>{20});
  CHECK(l.data == labels(20));
}

TEST_CASE("IDX limits keep the first items and remember the declared count", "[idx]") {
  TempDir d("limit");
  write_dir(d.path, true);
  const auto a = read_idx(d.path / "train-images-idx3-ubyte.gz", 3, 3);
  CHECK(a.dims == std::vector<std::uint32_t>{3, 4, 5});
  CHECK(a.declared_items == 20);
  const auto all = pixels(20, 4, 5);
  CHECK(a.data == std::vector<std::uint8_t>(all.begin(), all.begin() + 3 * 4 * 5));
  // A limit above the count keeps everything.
  CHECK(read_idx(d.path / "train-images-idx3-ubyte.gz", 3, 1000).dims[0] == 20);

  const auto ds = load_idx_dir(opts_for(d.path, 7, 5));
  CHECK(ds.train.count() == 7);
  CHECK(ds.train.labels.data.size() == 7);
  CHECK(ds.test.count() == 5);
  CHECK(ds.train.rows() == 4);
  CHECK(ds.train.cols() == 5);
}

TEST_CASE("find_idx_file prefers .gz and falls back to the plain name", "[idx]") {
  TempDir d("find");
  write_dir(d.path, false);
  CHECK(find_idx_file(d.path, "train-images-idx3-ubyte") == d.path / "train-images-idx3-ubyte");
  write_idx(d.path / "train-images-idx3-ubyte.gz", {1, 1, 1}, {7});
  CHECK(find_idx_file(d.path, "train-images-idx3-ubyte") == d.path / "train-images-idx3-ubyte.gz");
}

TEST_CASE("a missing IDX file is an error naming the file", "[idx][errors]") {
  TempDir d("missing");
  write_dir(d.path, true);
  fs::remove(d.path / "t10k-labels-idx1-ubyte.gz");
  REQUIRE_THROWS_AS(load_idx_dir(opts_for(d.path)), ns::Error);
  REQUIRE_THROWS_WITH(load_idx_dir(opts_for(d.path)),
                      Contains("IDX file not found") &&
                          Contains((d.path / "t10k-labels-idx1-ubyte.gz").string()) &&
                          Contains((d.path / "t10k-labels-idx1-ubyte").string()));
  REQUIRE_THROWS_WITH(read_idx(d.path / "nope.gz", 3),
                      Contains((d.path / "nope.gz").string()) && Contains("not found"));
}

TEST_CASE("a truncated IDX file is an error naming the file", "[idx][errors]") {
  SECTION("plain file cut in its data") {
    TempDir d("trunc_plain");
    write_dir(d.path, false);
    const fs::path f = d.path / "train-images-idx3-ubyte";
    fs::resize_file(f, 16 + 20 * 4 * 5 - 7);
    REQUIRE_THROWS_WITH(load_idx_dir(opts_for(d.path)),
                        Contains(f.string()) && Contains("truncated IDX file") &&
                            Contains("declares 20 images") && Contains("ends after 393 bytes"));
    // The first items are still readable: a limit below the cut reads fine.
    CHECK(load_idx_dir(opts_for(d.path, 5)).train.count() == 5);
  }
  SECTION("plain file cut in its header") {
    TempDir d("trunc_head");
    write_dir(d.path, false);
    const fs::path f = d.path / "train-labels-idx1-ubyte";
    fs::resize_file(f, 6);
    REQUIRE_THROWS_WITH(read_idx(f, 1), Contains(f.string()) && Contains("truncated IDX file") &&
                                            Contains("header"));
  }
  SECTION("gzip file cut short") {
    TempDir d("trunc_gz");
    // Incompressible-ish data so the compressed stream is long enough to cut in its middle.
    const std::uint32_t n = 50, h = 28, w = 28;
    std::vector<std::uint8_t> px(std::size_t(n) * h * w);
    std::uint32_t s = 12345;
    for (auto& v : px) v = static_cast<std::uint8_t>((s = s * 1103515245u + 12345u) >> 24);
    const fs::path f = d.path / "train-images-idx3-ubyte.gz";
    write_idx(f, {n, h, w}, px);
    fs::resize_file(f, fs::file_size(f) / 2);
    REQUIRE_THROWS_WITH(read_idx(f, 3), Contains(f.string()) && Contains("truncated IDX file"));
  }
}

TEST_CASE("a header declaring more data than the file can hold is refused before allocating",
          "[idx][errors]") {
  // Found by the fuzzer (tests/fuzz/README.md): sizes of 2^32 - 1 x 65535 x 65535 made
  // std::vector throw length_error, which is not a clear error.
  TempDir d("huge");
  const fs::path f = d.path / "train-images-idx3-ubyte";
  {
    std::ofstream out(f, std::ios::binary);
    const unsigned char head[] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff};
    out.write(reinterpret_cast<const char*>(head), sizeof head);
    out << std::string(100, 'p');
  }
  REQUIRE_THROWS_WITH(read_idx(f, 3), Contains(f.string()) && Contains("damaged IDX header") &&
                                          Contains("4294967295x65535x65535") &&
                                          Contains("a file of 116 bytes"));
  // The same sizes with a limit of 0 items ask for nothing and read fine.
  CHECK(read_idx(f, 3, 0).data.empty());
}

TEST_CASE("a wrong magic number is an error naming the file", "[idx][errors]") {
  TempDir d("magic");
  write_dir(d.path, true);
  // A labels file where the images belong: a valid IDX file, but 1-dimensional.
  fs::copy_file(d.path / "train-labels-idx1-ubyte.gz", d.path / "train-images-idx3-ubyte.gz",
                fs::copy_options::overwrite_existing);
  const std::string f = (d.path / "train-images-idx3-ubyte.gz").string();
  REQUIRE_THROWS_WITH(load_idx_dir(opts_for(d.path)),
                      Contains(f) && Contains("wrong magic number 0x00000801") &&
                          Contains("expected 0x00000803") && Contains("1 dimension(s)"));
  // Not an IDX file at all.
  const fs::path junk = d.path / "junk";
  std::ofstream(junk) << "<html>not found</html>";
  REQUIRE_THROWS_WITH(read_idx(junk, 1), Contains(junk.string()) &&
                                             Contains("wrong magic number 0x3c68746d") &&
                                             Contains("not an IDX file"));
}

TEST_CASE("an image/label count mismatch is an error naming both files", "[idx][errors]") {
  TempDir d("count");
  write_dir(d.path, false);
  write_idx(d.path / "train-labels-idx1-ubyte", {19}, labels(19));
  const std::string img = (d.path / "train-images-idx3-ubyte").string();
  const std::string lbl = (d.path / "train-labels-idx1-ubyte").string();
  // Also when a limit means only the first items are read.
  for (std::int64_t limit : {-1, 5}) {
    REQUIRE_THROWS_WITH(load_idx_dir(opts_for(d.path, limit)),
                        Contains("image/label count mismatch") &&
                            Contains(img + " holds 20 images") &&
                            Contains(lbl + " holds 19 labels"));
  }
}

TEST_CASE("labels outside 0..9 are an error naming the file", "[idx][errors]") {
  TempDir d("label");
  write_dir(d.path, false);
  auto l = labels(20);
  l[13] = 12;
  write_idx(d.path / "train-labels-idx1-ubyte", {20}, l);
  REQUIRE_THROWS_WITH(load_idx_dir(opts_for(d.path)),
                      Contains((d.path / "train-labels-idx1-ubyte").string()) &&
                          Contains("label 12 at index 13 is outside 0..9"));
}

TEST_CASE("train and test images of different sizes are an error", "[idx][errors]") {
  TempDir d("size");
  write_dir(d.path, false);
  write_idx(d.path / "t10k-images-idx3-ubyte", {8, 4, 4}, pixels(8, 4, 4));
  REQUIRE_THROWS_WITH(load_idx_dir(opts_for(d.path)),
                      Contains("holds 4x5 images but") && Contains("holds 4x4"));
}

TEST_CASE("the idx data block is parsed and checked", "[idx][errors]") {
  TempDir d("block");
  const auto o = IdxDataOptions::from_json(
      {{"kind", "idx"}, {"dir", d.path.string()}, {"limit", 512}, {"test_limit", nullptr}},
      "$.data");
  CHECK(o.dir == d.path.string());
  CHECK(o.limit == 512);
  CHECK(o.test_limit == -1);
  CHECK(IdxDataOptions::from_json(o.to_json(), "$.data").to_json() == o.to_json());

  REQUIRE_THROWS_WITH(IdxDataOptions::from_json({{"kind", "hdf5"}, {"dir", "x"}}, "$.data"),
                      Contains("$.data.kind") && Contains("expected \"idx\", got \"hdf5\""));
  REQUIRE_THROWS_WITH(IdxDataOptions::from_json({{"kind", "idx"}}, "$.data"),
                      Contains("$.data.dir"));
  REQUIRE_THROWS_WITH(IdxDataOptions::from_json(
                          {{"kind", "idx"}, {"dir", d.path.string()}, {"limit", -3}}, "$.data"),
                      Contains("$.data.limit") && Contains("positive integer, got -3"));
  REQUIRE_THROWS_WITH(
      IdxDataOptions::from_json({{"kind", "idx"}, {"dir", d.path.string()}, {"limt", 3}}, "$.data"),
      Contains("$.data.limt: unknown key"));
  REQUIRE_THROWS_WITH(
      IdxDataOptions::from_json({{"kind", "idx"}, {"dir", (d.path / "none").string()}}, "$.data"),
      Contains("$.data.dir") && Contains("is not a directory"));
}
