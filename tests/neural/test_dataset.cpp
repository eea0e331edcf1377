#include "models/neural/dataset.hpp"

#include "catch.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "core/error.hpp"
#include "models/neural/family.hpp"
#include "models/neural/h5.hpp"
#include "support/temp_dir.hpp"

using namespace ns::models::neural;
using ns::test::TempDir;

namespace {

SimOptions tiny_sim() {
  SimOptions o;
  o.images = 50;
  o.size = 12;
  o.neurons = 5;
  o.repeats = 3;
  return o;
}

// A small valid file: 10 images 4x4, 3 neurons, 2 repeats, then `edit` may break it.
std::string write_file(const TempDir& dir, const std::string& name,
                       const std::function<void(ns::models::neural::h5::File&)>& body) {
  const std::string path = dir.file(name);
  auto f = h5::File::create(path);
  body(f);
  return path;
}

std::vector<float> filled(std::size_t n, float start = 0) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i % 7);
  return v;
}

const std::vector<std::int8_t> kSplit = {0, 0, 0, 0, 0, 0, 1, 1, 2, 2};

void good_images(h5::File& f) { f.write("images", {10, 4, 4}, filled(160).data()); }
void good_trials(h5::File& f) { f.write("trials", {2, 10, 3}, filled(60).data()); }

}  // namespace

TEST_CASE("the simulated population is deterministic from its seed", "[dataset]") {
  const NeuralData a = simulate_v1(tiny_sim());
  const NeuralData b = simulate_v1(tiny_sim());
  REQUIRE(a.pixels == b.pixels);
  REQUIRE(a.responses == b.responses);
  REQUIRE(a.truth == b.truth);
  REQUIRE(a.split == b.split);
  SimOptions other = tiny_sim();
  other.seed = 1;
  REQUIRE(simulate_v1(other).pixels != a.pixels);

  REQUIRE(a.images == 50);
  REQUIRE(a.height == 12);
  REQUIRE(a.pixels.size() == 50u * 12 * 12);
  REQUIRE(a.trials.size() == 3u * 50 * 5);
  REQUIRE(a.indices(kTrain).size() == 32);  // 64/16/20
  REQUIRE(a.indices(kVal).size() == 8);
  REQUIRE(a.indices(kTest).size() == 10);
  for (float p : a.pixels) REQUIRE((p >= 0 && p <= 255 && std::floor(p) == p));
  // Poisson counts around noise-free rates whose mean per neuron is near mean_rate.
  double mean_truth = 0;
  for (float t : a.truth) {
    REQUIRE(t > 0);
    mean_truth += t;
  }
  mean_truth /= static_cast<double>(a.truth.size());
  REQUIRE(mean_truth == Approx(2.0).epsilon(0.5));
  for (float v : a.trials) REQUIRE((v >= 0 && std::floor(v) == v));
}

TEST_CASE("missing repeats in the simulation are NaN, one repeat always kept", "[dataset]") {
  SimOptions o = tiny_sim();
  o.missing = 0.5;
  const NeuralData d = simulate_v1(o);
  std::size_t nan = 0;
  for (std::int64_t i = 0; i < d.images * d.neurons; ++i) {
    int present = 0;
    for (std::int64_t r = 0; r < d.repeats; ++r) {
      const float v = d.trials[r * d.images * d.neurons + i];
      present += std::isnan(v) ? 0 : 1;
      nan += std::isnan(v) ? 1 : 0;
    }
    REQUIRE(present >= 1);
  }
  REQUIRE(nan > 0);
}

TEST_CASE("write_h5 / read_h5 round trip; write_simulated_h5 writes the documented format",
          "[dataset]") {
  TempDir dir;
  const NeuralData a = simulate_v1(tiny_sim());
  write_h5(a, dir.file("a.h5"));
  const NeuralData b = read_h5(dir.file("a.h5"), 0, true);
  REQUIRE(b.pixels == a.pixels);
  REQUIRE(b.split == a.split);
  REQUIRE(b.truth == a.truth);
  REQUIRE(b.repeats == 3);
  REQUIRE(b.responses == a.responses);

  write_simulated_h5({{"images", 40}, {"size", 10}, {"neurons", 4}, {"repeats", 2}},
                     dir.file("sim.h5"));
  auto f = h5::File::open(dir.file("sim.h5"));
  REQUIRE(f.names() == std::vector<std::string>{"images", "responses", "split", "trials", "truth"});
  REQUIRE(f.info("images").dims == std::vector<std::int64_t>{40, 10, 10});
  REQUIRE(f.info("images").type == h5::TypeClass::kInteger);
  REQUIRE(f.info("images").type_size == 1);  // uint8
  REQUIRE(f.info("trials").dims == std::vector<std::int64_t>{2, 40, 4});
  REQUIRE(f.info("split").type_size == 1);
}

TEST_CASE("a file without split gets the seeded 64/16/20 split; trials give nanmean responses",
          "[dataset]") {
  TempDir dir;
  const std::string path = write_file(dir, "x.h5", [](h5::File& f) {
    good_images(f);
    std::vector<float> t = filled(60);
    t[0] = std::nanf("");  // repeat 0, image 0, neuron 0 missing
    f.write("trials", {2, 10, 3}, t.data());
  });
  const NeuralData d = read_h5(path, 7, true);
  REQUIRE(d.split == random_split(10, 7));
  REQUIRE(d.split != random_split(10, 8));
  REQUIRE(d.responses[0] == filled(60)[30]);  // only repeat 1 present
  REQUIRE(d.responses[1] == Approx(0.5 * (filled(60)[1] + filled(60)[31])));
}

TEST_CASE("data errors name the file, the dataset and what is wrong", "[dataset]") {
  TempDir dir;
  using Catch::Contains;
  auto expect = [&](const std::string& name, const std::function<void(h5::File&)>& body,
                    const std::string& message, bool ccnorm = true) {
    const std::string path = write_file(dir, name, body);
    REQUIRE_THROWS_WITH(read_h5(path, 0, ccnorm), Contains(path) && Contains(message));
  };
  expect("no_images.h5", [](h5::File& f) { good_trials(f); },
         "dataset `images` is missing (required, shape [M, H, W] or [M, C, H, W]); datasets in "
         "the file: [trials]");
  expect("rank.h5",
         [](h5::File& f) {
           f.write("images", {10, 16}, filled(160).data());
           good_trials(f);
         },
         "dataset `images` has rank 2 (shape [10, 16]); expected [M, H, W] or [M, C, H, W]");
  expect("no_responses.h5", good_images, "neither dataset `trials` [R, M, N] nor `responses`");
  expect("trials_rank.h5",
         [](h5::File& f) {
           good_images(f);
           f.write("trials", {10, 3}, filled(30).data());
         },
         "dataset `trials` has rank 2 (shape [10, 3]); expected [R, M, N]");
  expect("count.h5",
         [](h5::File& f) {
           good_images(f);
           f.write("responses", {9, 3}, filled(27).data());
         },
         "dataset `responses` has 9 rows, `images` has 10", false);
  expect("trials_count.h5",
         [](h5::File& f) {
           good_images(f);
           f.write("trials", {2, 9, 3}, filled(54).data());
         },
         "dataset `trials` has 9 images (shape [2, 9, 3] = [R, M, N]), `images` has 10");
  expect("neurons.h5",
         [](h5::File& f) {
           good_images(f);
           good_trials(f);
           f.write("responses", {10, 4}, filled(40).data());
         },
         "dataset `responses` has 4 neurons (columns), `trials` has 3");
  expect("nan_image.h5",
         [](h5::File& f) {
           auto px = filled(160);
           px[3 * 16 + 5] = std::nanf("");
           f.write("images", {10, 4, 4}, px.data());
           good_trials(f);
         },
         "dataset `images` has a non-finite value (nan) in image 3");
  expect("inf_resp.h5",
         [](h5::File& f) {
           good_images(f);
           auto r = filled(30);
           r[2 * 3 + 1] = INFINITY;
           f.write("responses", {10, 3}, r.data());
         },
         "dataset `responses` has a non-finite value (inf) at image 2, neuron 1", false);
  expect("inf_trials.h5",
         [](h5::File& f) {
           good_images(f);
           auto t = filled(60);
           t[30 + 4 * 3 + 2] = -INFINITY;
           f.write("trials", {2, 10, 3}, t.data());
         },
         "dataset `trials` has an infinite value at repeat 1, image 4, neuron 2");
  expect("all_nan.h5",
         [](h5::File& f) {
           good_images(f);
           auto t = filled(60);
           t[5 * 3 + 0] = t[30 + 5 * 3 + 0] = std::nanf("");
           f.write("trials", {2, 10, 3}, t.data());
         },
         "dataset `trials` has no repeat present (all 2 are NaN) for image 5, neuron 0");
  expect("empty_val.h5",
         [](h5::File& f) {
           good_images(f);
           good_trials(f);
           std::vector<std::int8_t> s = {0, 0, 0, 0, 0, 0, 0, 0, 2, 2};
           f.write("split", {10}, s.data());
         },
         "dataset `split` has no val images (value 1)");
  expect("bad_split.h5",
         [](h5::File& f) {
           good_images(f);
           good_trials(f);
           std::vector<std::int8_t> s = kSplit;
           s[4] = 3;
           f.write("split", {10}, s.data());
         },
         "dataset `split` has value 3 at image 4; expected 0 (train), 1 (val) or 2 (test)");
  expect("split_len.h5",
         [](h5::File& f) {
           good_images(f);
           good_trials(f);
           f.write("split", {9}, kSplit.data());
         },
         "dataset `split` has shape [9]; expected [M] = [10]");
  expect("truth.h5",
         [](h5::File& f) {
           good_images(f);
           good_trials(f);
           f.write("truth", {10, 2}, filled(20).data());
         },
         "dataset `truth` has shape [10, 2]; expected [M, N] = [10, 3]");
  expect("r1.h5",
         [](h5::File& f) {
           good_images(f);
           f.write("trials", {1, 10, 3}, filled(30).data());
         },
         "CCnorm needs dataset `trials` with R >= 2 repeats, but `trials` has R = 1; add "
         "per-repeat `trials` [R, M, N] or set \"ccnorm\": false");
  expect("resp_only.h5",
         [](h5::File& f) {
           good_images(f);
           f.write("responses", {10, 3}, filled(30).data());
         },
         "CCnorm needs dataset `trials` with R >= 2 repeats, but the file has only `responses`");
  // Without CCnorm the same files load.
  REQUIRE_NOTHROW(read_h5(dir.file("r1.h5"), 0, false));
  REQUIRE_NOTHROW(read_h5(dir.file("resp_only.h5"), 0, false));

  REQUIRE_THROWS_WITH(read_h5(dir.file("absent.h5"), 0, true),
                      Contains("dataset file '" + dir.file("absent.h5") + "' does not exist"));
  {
    std::ofstream(dir.file("text.h5")) << "not hdf5";
  }
  REQUIRE_THROWS_WITH(read_h5(dir.file("text.h5"), 0, true), Contains("is not an HDF5 file"));
}

TEST_CASE("data blocks are checked with JSON paths", "[dataset]") {
  using Catch::Contains;
  REQUIRE_THROWS_WITH(parse_data_spec({{"kind", "csv"}}, "$.data"),
                      Contains("$.data.kind: unknown data kind \"csv\"; known kinds: hdf5, "
                               "simulated"));
  REQUIRE_THROWS_WITH(parse_data_spec({{"kind", "simulated"}, {"neuron", 3}}, "$.data"),
                      Contains("$.data.neuron: unknown key") && Contains("neurons"));
  REQUIRE_THROWS_WITH(parse_data_spec({{"kind", "simulated"}, {"size", 2.5}}, "$.data"),
                      Contains("$.data.size: expected an integer in [8, 1024], got 2.5"));
  REQUIRE_THROWS_WITH(
      parse_data_spec({{"kind", "simulated"}, {"images", 1000000}, {"size", 1024}}, "$.data"),
      Contains("$.data: images x size x size = 1000000 x 1024 x 1024 pixels, more than the "
               "1073741824 a simulated data set may hold"));
  REQUIRE_THROWS_WITH(parse_data_spec({{"kind", "simulated"}, {"repeats", 1}}, "$.data"),
                      Contains("$.data.repeats: CCnorm needs at least 2 repeats"));
  REQUIRE_NOTHROW(parse_data_spec({{"kind", "simulated"}, {"repeats", 1}, {"ccnorm", false}}));
  REQUIRE_THROWS_WITH(parse_data_spec({{"kind", "hdf5"}}, "$.data"),
                      Contains("$.data.path: an hdf5 data block needs \"path\""));
  const DataSpec s = parse_data_spec({{"kind", "simulated"}});
  REQUIRE(s.sim.images == 4000);
  REQUIRE(s.sim.size == 32);
  REQUIRE(s.sim.neurons == 60);
  REQUIRE(s.sim.repeats == 6);
}

TEST_CASE("the family's check_data opens the file before any training", "[dataset]") {
  TempDir dir;
  const auto family = maskcnn_family();
  REQUIRE_THROWS_WITH(family->check_data({{"kind", "hdf5"}, {"path", dir.file("none.h5")}},
                                        "$.data"),
                      Catch::Contains("none.h5' does not exist"));
  const std::string path = write_file(dir, "bad.h5", [](h5::File& f) {
    good_images(f);
    f.write("trials", {2, 9, 3}, filled(54).data());
  });
  REQUIRE_THROWS_WITH(family->check_data({{"kind", "hdf5"}, {"path", path}}, "$.data"),
                      Catch::Contains("`trials` has 9 images"));
}

TEST_CASE("CCnorm asked for: neurons with fewer than 2 repeats per image are rejected",
          "[dataset]") {
  TempDir dir;
  using Catch::Contains;
  // 2 repeats x 10 images x 3 neurons; neuron 1 has its second repeat only for image 0, so
  // the median image has 1 repeat (effectively R = 1).
  auto sparse = [](h5::File& f) {
    good_images(f);
    auto t = filled(60);
    for (int m = 1; m < 10; ++m) t[30 + m * 3 + 1] = std::nanf("");
    f.write("trials", {2, 10, 3}, t.data());
  };
  const std::string path = write_file(dir, "sparse.h5", sparse);
  REQUIRE_THROWS_WITH(read_h5(path, 0, true),
                      Contains(path) && Contains("dataset `trials`: 1 of 3 neurons have fewer "
                                                 "than 2 effective repeats") &&
                          Contains("neuron 1 first, lowest 1)") &&
                          Contains("\"ccnorm\": false"));
  try {
    read_h5(path, 0, true);
  } catch (const ns::Error& e) {
    REQUIRE(e.exit_code() == ns::kExitBadInput);
  }
  // Without CCnorm the file is fine; one image with a single repeat is fine too.
  REQUIRE_NOTHROW(read_h5(path, 0, false));
  const std::string one = write_file(dir, "one.h5", [](h5::File& f) {
    good_images(f);
    auto t = filled(60);
    t[30 + 4 * 3 + 2] = std::nanf("");
    f.write("trials", {2, 10, 3}, t.data());
  });
  REQUIRE_NOTHROW(read_h5(one, 0, true));
  // The family rejects it before any training, with exit 2.
  const auto family = maskcnn_family();
  REQUIRE_THROWS_WITH(family->check_data({{"kind", "hdf5"}, {"path", path}}, "$.data"),
                      Contains("1 of 3 neurons"));
}

TEST_CASE("negative responses are accepted with one warning naming the dataset", "[dataset]") {
  TempDir dir;
  const std::string path = write_file(dir, "dff.h5", [](h5::File& f) {
    good_images(f);
    auto t = filled(60, -1.0f);  // values -1 .. 5: -1 is 1 in 7 of the cycle
    f.write("trials", {2, 10, 3}, t.data());
  });
  const NeuralData d = read_h5(path, 0, true);
  REQUIRE(d.warnings.size() == 1);
  REQUIRE_THAT(d.warnings[0], Catch::Contains(path) &&
                                  Catch::Contains("dataset `trials` has negative values (15.00 % "
                                                  "of 60)"));
  const std::string pos = write_file(dir, "pos.h5", [](h5::File& f) {
    good_images(f);
    good_trials(f);
  });
  REQUIRE(read_h5(pos, 0, true).warnings.empty());
}

TEST_CASE("damaged HDF5 headers (huge shapes, bogus number types) are clear errors", "[dataset]") {
  // Found by tests/fuzz (the HDF5 target): a dataset whose dimensions multiply past 2^63.
  const std::string path =
      std::string(std::getenv("NS_SOURCE_DIR") ? std::getenv("NS_SOURCE_DIR") : ".") +
      "/tests/data/h5_damaged_shape.h5";
  REQUIRE_THROWS_WITH(read_h5(path, 0, true), Catch::Contains("the file is damaged") ||
                                                  Catch::Contains("is the file damaged"));
  // A number type whose bits lie outside its bytes (libhdf5's conversion overflowed on it).
  const std::string type_path =
      std::string(std::getenv("NS_SOURCE_DIR") ? std::getenv("NS_SOURCE_DIR") : ".") +
      "/tests/data/h5_damaged_type.h5";
  REQUIRE_THROWS_WITH(read_h5(type_path, 0, true), Catch::Contains("the file is damaged"));
}

TEST_CASE("the simulation's missing modes", "[dataset]") {
  SimOptions o = tiny_sim();
  o.repeats = 4;
  o.missing = 0.5;
  auto count = [](const NeuralData& d, std::int64_t r, std::int64_t m, std::int64_t n) {
    return std::isnan(d.trials[(r * d.images + m) * d.neurons + n]);
  };
  o.missing_mode = "trial";  // a (repeat, image) is missing for every neuron or for none
  NeuralData t = simulate_v1(o);
  std::int64_t missing = 0;
  for (std::int64_t r = 0; r < 4; ++r)
    for (std::int64_t m = 0; m < t.images; ++m) {
      for (std::int64_t n = 1; n < t.neurons; ++n) REQUIRE(count(t, r, m, n) == count(t, r, m, 0));
      missing += count(t, r, m, 0);
    }
  REQUIRE(missing > 0);
  o.missing_mode = "repeat";  // a repeat is missing for all images of a neuron or for none
  NeuralData w = simulate_v1(o);
  missing = 0;
  for (std::int64_t n = 0; n < w.neurons; ++n) {
    std::int64_t kept = 0;
    for (std::int64_t r = 0; r < 4; ++r) {
      for (std::int64_t m = 1; m < w.images; ++m) REQUIRE(count(w, r, m, n) == count(w, r, 0, n));
      kept += count(w, r, 0, n) ? 0 : 1;
      missing += count(w, r, 0, n);
    }
    REQUIRE(kept >= 2);
  }
  REQUIRE(missing > 0);
  using Catch::Contains;
  REQUIRE_THROWS_WITH(
      parse_data_spec({{"kind", "simulated"}, {"missing_mode", "image"}}, "$.data"),
      Contains("$.data.missing_mode: expected one of \"cell\", \"trial\", \"repeat\", got \"image\""));
  REQUIRE_THROWS_WITH(
      parse_data_spec({{"kind", "simulated"}, {"repeats", 2}, {"missing", 0.2}}, "$.data"),
      Contains("$.data.missing: with 2 repeats and missing = 0.2 per cell an image keeps 1.80 "
               "repeats on average; CCnorm needs at least 2"));
  REQUIRE_NOTHROW(parse_data_spec(
      {{"kind", "simulated"}, {"repeats", 2}, {"missing", 0.2}, {"ccnorm", false}}, "$.data"));
}
