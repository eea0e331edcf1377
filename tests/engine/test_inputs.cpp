// Input digests (engine/inputs.hpp) and what the output directory makes of them
// (engine/sweep_output.hpp): a changed file is refused, an accepted change is recorded, rows of
// another spec are neither resumed nor counted.
#include "catch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "engine/inputs.hpp"
#include "engine/search_registry.hpp"
#include "engine/sweep_output.hpp"
#include "models/quadratic.hpp"
#include "sweeps/spec.hpp"
#include "support/temp_dir.hpp"

using namespace ns::engine;
namespace fs = std::filesystem;
using nlohmann::json;

using ns::test::TempDir;

namespace {

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Sets the file's mtime to `mtime` (and thereby its ctime to the present, as the kernel does).
void set_mtime(const fs::path& p, const timespec& mtime) {
  const timespec times[2] = {mtime, mtime};
  REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

timespec mtime_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mtim;
}

const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

TEST_CASE("SHA-256 of strings and files matches the published test vectors", "[inputs]") {
  CHECK(sha256_hex("abc") == kAbc);
  CHECK(sha256_hex("") == kEmpty);
  const TempDir scratch("inputs_vectors");
  const fs::path& d = scratch.path;
  write(d / "abc", "abc");
  write(d / "empty", "");
  CHECK(sha256_file(d / "abc") == kAbc);
  CHECK(sha256_file(d / "empty") == kEmpty);
  // A file larger than one read buffer (1 MiB) against the same bytes digested at once.
  const std::string big(3 * (1 << 20) + 17, 'x');
  write(d / "big", big);
  CHECK(sha256_file(d / "big") == sha256_hex(big));
  CHECK_THROWS_WITH(sha256_file(d / "missing"), Catch::Contains("missing: cannot open"));
  CHECK_THROWS_WITH(sha256_file(d), Catch::Contains("not a regular file"));
}

TEST_CASE("the digest cache reads a file once and sees a same-size rewrite with its mtime restored",
          "[inputs]") {
  const TempDir scratch("inputs_cache");
  const fs::path& d = scratch.path;
  const fs::path f = d / "data.h5";
  write(f, "first content");
  DigestCache cache(d / "cache.json");
  cache.racy_s = 0;  // the file was written just now; see the racy test below
  std::uint64_t bytes = 0;
  CHECK(cache.digest(f, &bytes) == sha256_hex("first content"));
  CHECK(bytes == 13);
  CHECK(cache.digest(f, &bytes) == sha256_hex("first content"));
  CHECK(cache.reads() == 1);
  CHECK(cache.hits() == 1);

  // Rewritten in place with the same size, the mtime set back to what it was (touch -d, cp -p):
  // the ctime moved, so the file is read again.
  const timespec before = mtime_of(f);
  write(f, "other content");
  set_mtime(f, before);
  REQUIRE(file_stamp(f)->mtime_ns ==
          static_cast<std::int64_t>(before.tv_sec) * 1000000000 + before.tv_nsec);
  CHECK(cache.digest(f, &bytes) == sha256_hex("other content"));
  CHECK(cache.reads() == 2);

  // Saved and read back: a new run takes the digest from the file.
  cache.save();
  DigestCache again(d / "cache.json");
  CHECK(again.digest(f, &bytes) == sha256_hex("other content"));
  CHECK(again.hits() == 1);
  CHECK(again.reads() == 0);
}

TEST_CASE("a file changed just before it was digested is not cached (racily clean)", "[inputs]") {
  const TempDir scratch("inputs_racy");
  const fs::path& d = scratch.path;
  const fs::path f = d / "m.pt";
  write(f, "module");
  DigestCache cache(d / "cache.json");  // racy_s = 2: the file is younger than that
  std::uint64_t bytes = 0;
  cache.digest(f, &bytes);
  cache.digest(f, &bytes);
  CHECK(cache.reads() == 2);
  CHECK(cache.hits() == 0);
  cache.save();
  CHECK(json::parse(read(d / "cache.json")).at("files").empty());
}

TEST_CASE("the cache's limit: a matching stamp is trusted without reading the file", "[inputs]") {
  // What the cache cannot see: a rewrite that leaves size, mtime, ctime, inode and device all
  // as they were (only a clock set back or a write to the block device does that). Shown here
  // by an entry whose digest does not match the content but whose stamp does.
  const TempDir scratch("inputs_limit");
  const fs::path& d = scratch.path;
  const fs::path f = d / "train.py";
  write(f, "print(1)\n");
  json entry = file_stamp(f)->to_json();
  entry["sha256"] = std::string(64, '0');
  write(d / "cache.json", json{{"version", 1}, {"files", {{f.string(), entry}}}}.dump());
  DigestCache cache(d / "cache.json");
  std::uint64_t bytes = 0;
  CHECK(cache.digest(f, &bytes) == std::string(64, '0'));
  // A damaged cache file is an empty cache.
  write(d / "cache.json", "{not json");
  DigestCache damaged(d / "cache.json");
  CHECK(damaged.digest(f, &bytes) == sha256_hex("print(1)\n"));
}

TEST_CASE("inputs are digested once per path, sorted, relative paths from the working directory",
          "[inputs]") {
  const TempDir scratch("inputs_set");
  const fs::path& d = scratch.path;
  write(d / "b.h5", "bb");
  write(d / "a.pt", "aa");
  const fs::path cwd = fs::current_path();
  fs::current_path(d);
  DigestCache cache;
  const auto got = digest_inputs(
      {{"b.h5", "data"}, {"./a.pt", "module"}, {d / "b.h5", "data"}, {"b.h5", "argument"}}, cache);
  fs::current_path(cwd);
  REQUIRE(got.size() == 3);  // "b.h5" and the absolute path are declared differently
  CHECK(got[0].path == (d / "b.h5").string());
  CHECK(got[1].path == "a.pt");
  CHECK(got[1].resolved == (d / "a.pt").string());
  CHECK(got[1].role == "module");
  CHECK(got[2].path == "b.h5");
  CHECK(got[2].role == "data");  // the first role declared
  CHECK(got[2].bytes == 2);
  CHECK(got[2].sha256 == sha256_hex("bb"));
  CHECK(input_set_digest(got).size() == 16);
  CHECK(input_set_digest(got) == input_set_digest({got[2], got[0], got[1]}));
}

TEST_CASE("inputs compare by path: changed, then added and removed", "[inputs]") {
  auto digest = [](const std::string& path, const std::string& sha) {
    InputDigest d;
    d.path = path;
    d.resolved = "/abs/" + path;
    d.role = "data";
    d.bytes = 10;
    d.sha256 = sha;
    return d;
  };
  // sweep.json of an earlier run: x.h5 was read by an older spec only, and changed since.
  const json sweep = {
      {"inputs", inputs_json({digest("a.h5", "aaaa"), digest("gone.h5", "gggg")})},
      {"input_history",
       {{{"since_row", 0}, {"inputs", inputs_json({digest("x.h5", "xxxx")})}},
        {{"since_row", 3},
         {"inputs", inputs_json({digest("a.h5", "aaaa"), digest("gone.h5", "gggg")})}}}}};
  const auto recorded = recorded_inputs(sweep);
  REQUIRE(recorded.size() == 3);
  const auto changes = compare_inputs(
      recorded, {digest("a.h5", "aaab"), digest("new.h5", "nnnn"), digest("x.h5", "yyyy")});
  REQUIRE(changes.size() == 4);
  CHECK(changes[0].path == "a.h5");
  CHECK(changes[0].changed());
  CHECK(changes[1].path == "x.h5");  // taken up again with other content: still a change
  CHECK(changes[1].changed());
  CHECK(changes[2].path == "new.h5");
  CHECK_FALSE(changes[2].before);
  CHECK(changes[3].path == "gone.h5");
  CHECK_FALSE(changes[3].after);
  CHECK(changes[0].describe() == "a.h5 (data): sha256 aaaa.. 10 bytes -> sha256 aaab.. 10 bytes");
  CHECK(compare_inputs(recorded,
                       {digest("a.h5", "aaaa"), digest("x.h5", "xxxx"), digest("gone.h5", "gggg")})
            .empty());
  CHECK(recorded_inputs(json::object()).empty());
}

namespace {

ns::sweeps::SweepSpec quadratic_spec(const std::string& dir, const json& data = json::object(),
                                     const json& grid = {{"x", {0.0, 1.0}}}) {
  const auto family = ns::models::quadratic_family();
  json j = {
      {"family", "quadratic"}, {"grid", grid}, {"metric", "score"}, {"mode", "max"}, {"out", dir}};
  if (!data.empty()) j["data"] = data;
  return ns::engine::parse_spec(j, "t.json", family->schema());
}

InputDigest input(const std::string& path, const std::string& content) {
  InputDigest d;
  d.path = d.resolved = path;
  d.role = "program";
  d.bytes = content.size();
  d.sha256 = sha256_hex(content);
  return d;
}

ResultRow ok_row(const ns::sweeps::Trial& t, double score) {
  ResultRow r;
  r.trial_id = t.id;
  r.status = TrialStatus::kOk;
  r.params = t.params;
  r.metrics = {{"score", score}, {"loss", -score}, {"slept_s", 0.0}};
  return r;
}

OutputPlan plan_of(const ns::sweeps::SweepSpec& spec, std::vector<InputDigest> inputs) {
  OutputPlan p{spec, ns::models::quadratic_family()->schema().metrics, spec.out};
  p.inputs = std::move(inputs);
  std::set<std::string> ids;
  for (const auto& t : ns::sweeps::enumerate(spec)) ids.insert(t.id);
  p.trial_ids = ids;
  return p;
}

}  // namespace

TEST_CASE("a rerun with a changed input is refused before any write, and accepted on request",
          "[inputs][sweep_output]") {
  const TempDir scratch("inputs_rerun");
  const fs::path& d = scratch.path;
  const auto spec = quadratic_spec(d.string());
  const auto trials = ns::sweeps::enumerate(spec);
  {
    SweepOutput out(plan_of(spec, {input("train.py", "v1")}), json::object(), 2);
    out.record(ok_row(trials[0], 1.0));
  }
  const json first = json::parse(read(d / "sweep.json"));
  REQUIRE(first.at("inputs").size() == 1);
  CHECK(first.at("inputs")[0].at("sha256") == sha256_hex("v1"));
  REQUIRE(first.at("input_history").size() == 1);
  CHECK(first.at("input_history")[0].at("since_row") == 0);

  const std::string rows = read(d / "results.csv");
  const std::string sweep = read(d / "sweep.json");
  const auto changed = plan_of(spec, {input("train.py", "v2")});
  CHECK_THROWS_WITH(
      check_output_dir(changed),
      Catch::Contains("changed: train.py (program): sha256 " + sha256_hex("v1").substr(0, 16) +
                      ".. 2 bytes -> sha256 " + sha256_hex("v2").substr(0, 16) + ".. 2 bytes") &&
          Catch::Contains("--accept-changed-inputs") && Catch::Contains("--force-new"));
  CHECK_THROWS_AS(SweepOutput(changed, json::object(), 2), ns::Error);
  CHECK(read(d / "results.csv") == rows);
  CHECK(read(d / "sweep.json") == sweep);

  // An added file (a module a grown grid names) is no change of the rows' inputs.
  CHECK_NOTHROW(check_output_dir(plan_of(spec, {input("train.py", "v1"), input("b.pt", "b")})));

  auto accepted = changed;
  accepted.accept_changed_inputs = true;
  CHECK_NOTHROW(check_output_dir(accepted));
  {
    SweepOutput out(accepted, json::object(), 2);
    CHECK(out.done_before() == 1);
    out.record(ok_row(trials[1], 2.0));
  }
  const json second = json::parse(read(d / "sweep.json"));
  REQUIRE(second.at("input_history").size() == 2);
  const json& e = second.at("input_history")[1];
  CHECK(e.at("since_row") == 1);
  CHECK(e.at("accepted").at("inputs")[0].at("path") == "train.py");
  CHECK(e.at("accepted").at("inputs")[0].at("before").at("sha256") == sha256_hex("v1"));
  CHECK(e.at("accepted").at("inputs")[0].at("after").at("sha256") == sha256_hex("v2"));
  CHECK(e.at("changes")[0].at("path") == "train.py");
  // The same inputs again: no new entry, no refusal.
  CHECK_NOTHROW(check_output_dir(plan_of(spec, {input("train.py", "v2")})));
  { SweepOutput out(plan_of(spec, {input("train.py", "v2")}), json::object(), 2); }
  CHECK(json::parse(read(d / "sweep.json")).at("input_history").size() == 2);

  // --force-new moves the rows and the trial directories aside and starts a new history.
  fs::create_directories(d / "trials" / trials[0].id);
  auto fresh = plan_of(spec, {input("train.py", "v3")});
  fresh.force_new = true;
  CHECK_NOTHROW(check_output_dir(fresh));
  {
    SweepOutput out(fresh, json::object(), 2);
    CHECK(out.done_before() == 0);
  }
  CHECK_FALSE(fs::exists(d / "trials"));
  int aside = 0;
  for (const auto& entry : fs::directory_iterator(d))
    aside += entry.path().filename().string().rfind("trials.old-", 0) == 0;
  CHECK(aside == 1);
  CHECK(json::parse(read(d / "sweep.json")).at("input_history").size() == 1);
}

TEST_CASE("another data block's rows are refused; a narrower grid's rows are not counted",
          "[inputs][sweep_output]") {
  const TempDir scratch("inputs_other");
  const fs::path& d = scratch.path;
  const auto wide = quadratic_spec(d.string(), json::object(), {{"x", {0.0, 1.0, 2.0}}});
  const auto wide_trials = ns::sweeps::enumerate(wide);
  {
    SweepOutput out(plan_of(wide, {}), json::object(), 3);
    out.record(ok_row(wide_trials[0], 1.0));
    out.record(ok_row(wide_trials[2], 9.0));  // the best: x = 2
  }
  REQUIRE(json::parse(read(d / "best.json")).at("trial_id") == wide_trials[2].id);

  // The same family and seed with another data block: refused, naming the difference. (The
  // quadratic family takes no data; the spec parser does not know that, check_data does.)
  const auto other = quadratic_spec(d.string(), {{"path", "b.h5"}});
  CHECK_THROWS_WITH(check_output_dir(plan_of(other, {})),
                    Catch::Contains("another data block") && Catch::Contains("$.data.path: added"));

  // A narrower grid: the row of x = 2 stays in results.csv, but the counts and best.json are
  // the spec's own.
  const auto narrow = quadratic_spec(d.string(), json::object(), {{"x", {0.0, 1.0}}});
  CHECK_NOTHROW(check_output_dir(plan_of(narrow, {})));
  {
    SweepOutput out(plan_of(narrow, {}), json::object(), 2);
    CHECK(out.done_before() == 1);
    CHECK(out.finished().size() == 2);
  }
  CHECK(json::parse(read(d / "best.json")).at("trial_id") == wide_trials[0].id);
}
