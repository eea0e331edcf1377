#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

#include "core/duration.hpp"
#include "core/error.hpp"
#include "launch/launch.hpp"

namespace ns::launch {
namespace {

bool is_abs(const std::string& p) { return !p.empty() && p[0] == '/'; }

std::string dirname_of(const std::string& p) {
  auto slash = p.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : p.substr(0, slash);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

// #SBATCH/#BSUB lines are parsed by the scheduler, not by bash: quoting there is not portable, so
// paths written into them must not need it.
void check_directive_safe(const std::string& value, const std::string& what) {
  for (char c : value) {
    NS_CHECK(!std::isspace(static_cast<unsigned char>(c)) && c != '"' && c != '\'' && c != '$' &&
                 c != '`' && c != '\\',
             "{} '{}' contains '{}', which scheduler directive lines cannot carry; "
             "use a path without spaces, quotes, '$', '`' or '\\'",
             what, value, c == '\t' ? std::string("\\t") : std::string(1, c));
  }
}

std::string sanitize_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '_';
  }
  return out.empty() ? std::string("neurosweep") : out;
}

// The container runtime actually used for an image on a scheduler.
std::string container_kind(const JobOptions& o) {
  if (o.image.empty()) return "";
  const std::set<std::string> known{"auto", "pyxis", "apptainer", "docker"};
  const std::string c = o.container.empty() ? "auto" : o.container;
  NS_CHECK(known.count(c), "--container must be one of auto, pyxis, apptainer, docker; got '{}'", c);
  if (c != "auto") return c;
  if (ends_with(o.image, ".sif")) return "apptainer";
  return o.scheduler == Scheduler::kSlurm ? "pyxis" : "docker";
}

// Bind mounts a container needs: the spec's folder, the output directory, then --mount values,
// each "SRC:DST[:FLAGS]" (DST defaults to SRC), without repeats.
std::vector<std::string> container_mounts(const JobOptions& o) {
  std::vector<std::string> out;
  auto add = [&](const std::string& m) {
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  };
  add(dirname_of(o.spec) + ":" + dirname_of(o.spec));
  add(o.out + ":" + o.out);
  for (const auto& m : o.mounts) {
    NS_CHECK(!m.empty() && m[0] == '/',
             "--mount '{}' must start with an absolute host path: SRC[:DST[:FLAGS]], e.g. "
             "/data/mice:/data/mice:ro",
             m);
    check_directive_safe(m, "--mount");
    add(m.find(':') == std::string::npos ? m + ":" + m : m);
  }
  return out;
}

// One scheduler line: "--qos=high" becomes "#SBATCH --qos=high"; a full "#SBATCH ..." stays.
std::string extra_line(const std::string& line, const std::string& prefix) {
  std::string l = line;
  while (!l.empty() && std::isspace(static_cast<unsigned char>(l.front()))) l.erase(l.begin());
  NS_CHECK(!l.empty(), "--extra got an empty line; give a scheduler option such as "
                       "--extra=--qos=high");
  NS_CHECK(l.find('\n') == std::string::npos, "--extra '{}' spans several lines; repeat --extra "
                                              "once per line", line);
  if (l[0] == '#') {
    NS_CHECK(l.rfind(prefix + " ", 0) == 0,
             "--extra '{}' is a comment but not a '{}' line; give the option alone "
             "(e.g. --extra=-x) or the whole line starting with '{} '",
             line, prefix, prefix);
    return l;
  }
  NS_CHECK(l[0] == '-', "--extra '{}' is not a scheduler option (they start with '-'), "
                        "e.g. --extra=--qos=high", line);
  return prefix + " " + l;
}

struct Layout {
  int ntasks = 0;          // 0: counted at run time (one rank per core)
  int tasks_per_node = 0;  // slots reserved per node (workers + 1 for the coordinator)
};

Layout layout_of(const JobOptions& o) {
  NS_CHECK(o.nodes >= 1, "--nodes must be at least 1, got {}", o.nodes);
  NS_CHECK(o.ranks_per_node >= 0, "--ranks-per-node must be positive, got {}", o.ranks_per_node);
  NS_CHECK(o.gpus_per_node >= 0, "--gpus-per-node must be 0 or more, got {}", o.gpus_per_node);
  NS_CHECK(o.cpus_per_rank >= 0, "--cpus-per-rank must be positive, got {}", o.cpus_per_rank);
  int workers = o.ranks_per_node > 0 ? o.ranks_per_node : o.gpus_per_node;
  if (workers == 0) return {};
  if (o.gpus_per_node > 0) {
    NS_CHECK(workers <= o.gpus_per_node,
             "--ranks-per-node {} is more than --gpus-per-node {}: each worker rank needs a GPU of "
             "its own; drop --ranks-per-node (default: one rank per GPU) or ask for more GPUs",
             workers, o.gpus_per_node);
  }
  return {o.nodes * workers + 1, workers + 1};
}

std::string ranks_block(const JobOptions& o, const Layout& l) {
  std::string b;
  if (l.ntasks > 0) {
    b = fmt::format("# {} ranks: the coordinator (rank 0{}) and {} worker(s){}{}.\n"
                    "ns_ntasks={}\n",
                    l.ntasks, o.scheduler == Scheduler::kLocal ? "" : ", first node",
                    l.tasks_per_node - 1, o.scheduler == Scheduler::kLocal ? "" : " per node",
                    o.gpus_per_node > 0 ? ", one per GPU" : "", l.ntasks);
  } else {
    const int c = std::max(o.cpus_per_rank, 1);
    b = fmt::format("# One rank per{} core{}, the coordinator included.\n",
                    c > 1 ? fmt::format(" {}", c) : std::string(),
                    o.scheduler == Scheduler::kLocal ? "" : " of each node");
    if (o.scheduler != Scheduler::kLocal) {  // the local template counts ns_cores itself
      b += "ns_cores=$(lscpu -p=Core,Socket 2>/dev/null | grep -v '^#' | sort -u | wc -l)\n"
           "[ \"${ns_cores:-0}\" -gt 0 ] || ns_cores=$(nproc)\n";
    }
    if (o.scheduler == Scheduler::kSlurm) {
      b += "[ \"${SLURM_CPUS_ON_NODE:-$ns_cores}\" -lt \"$ns_cores\" ] && ns_cores=$SLURM_CPUS_ON_NODE\n";
      b += c > 1 ? fmt::format("ns_ntasks=$(( ${{SLURM_JOB_NUM_NODES:-1}} * (ns_cores / {}) ))\n", c)
                 : "ns_ntasks=$(( ${SLURM_JOB_NUM_NODES:-1} * ns_cores ))\n";
    } else {
      b += c > 1 ? fmt::format("ns_ntasks=$(( ns_cores / {} ))\n", c) : "ns_ntasks=$ns_cores\n";
    }
    b += "[ \"$ns_ntasks\" -ge 2 ] || ns_ntasks=2  # a coordinator and at least one worker\n";
  }
  if (o.cpus_per_rank > 0) {
    b += fmt::format("export OMP_NUM_THREADS={}  # threads per rank = --cpus-per-rank\n",
                     o.cpus_per_rank);
  }
  if (o.gpus_per_node > 0) {
    b += fmt::format("export NS_GPUS_PER_NODE={}  # --gpus-per-node: `run --device auto` stops if "
                     "the binary cannot use GPUs\n",
                     o.gpus_per_node);
  }
  return b;
}

// Blocks are spliced into templates on lines of their own: drop the last newline.
std::string chomp(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// `neurosweep run SPEC --out OUT [ARGS]`, words already quoted for bash.
std::vector<std::string> run_words(const JobOptions& o) {
  std::vector<std::string> w{shell_quote(o.binary), "run", shell_quote(o.spec), "--out",
                             shell_quote(o.out)};
  // The engine sizes its intra-op thread pool from the node's cores unless told; a rank that was
  // given C cores by the scheduler should use C.
  if (o.cpus_per_rank > 0 &&
      std::find(o.run_args.begin(), o.run_args.end(), "--threads") == o.run_args.end()) {
    w.push_back("--threads");
    w.push_back(std::to_string(o.cpus_per_rank));
  }
  for (const auto& a : o.run_args) w.push_back(shell_quote(a));
  return w;
}

// Lays a command out one option group per line, as a person would write it.
std::string format_command(const std::vector<std::vector<std::string>>& groups) {
  std::vector<std::string> lines;
  for (const auto& g : groups) {
    if (!g.empty()) lines.push_back(join(g, " "));
  }
  return join(lines, " \\\n    ");
}

std::vector<std::string> apptainer_words(const JobOptions& o) {
  std::vector<std::string> w{"apptainer", "exec"};
  if (o.gpus_per_node > 0) w.push_back("--nv");
  w.push_back("--bind");
  w.push_back(shell_quote(join(container_mounts(o), ",")));
  w.push_back(shell_quote(o.image));
  return w;
}

// Ranks are not pinned: each runs intra-op threads of its own (OMP_NUM_THREADS, --threads).
std::vector<std::string> mpirun_words(const std::string& container, const JobOptions& o) {
  std::vector<std::string> w{"mpirun", "\"${ns_mpi[@]}\"", "-np", "\"$ns_ntasks\"", "--bind-to",
                             "none"};
  // Open MPI passes a variable to ranks on other hosts only when asked.
  if (o.gpus_per_node > 0) w.insert(w.end(), {"-x", "NS_GPUS_PER_NODE"});
  if (container == "docker") {
    // Docker's default seccomp profile forbids the cross-memory attach vader uses.
    w.insert(w.end(), {"--mca", "btl_vader_single_copy_mechanism", "none"});
  }
  return w;
}

std::string setup_block(const JobOptions& o) {
  if (o.setup.empty()) return "";
  std::string b = "# --setup lines";
  for (const auto& s : o.setup) b += "\n" + s;
  return b;
}

struct Rendered {
  std::map<std::string, std::string> vars;
  std::string submit;
};

Rendered slurm_vars(const JobOptions& o, const Layout& l, long time_s) {
  const std::string kind = container_kind(o);
  NS_CHECK(o.launcher == "srun" || o.launcher == "mpirun",
           "--launcher must be srun or mpirun, got '{}'", o.launcher);
  NS_CHECK(!(kind == "pyxis" && o.launcher == "mpirun"),
           "--launcher mpirun cannot start a pyxis container (--container-image is an srun "
           "option); use --launcher srun, or an Apptainer image (--container apptainer)");
  NS_CHECK(kind != "docker", "--container docker is not available under Slurm; use pyxis "
                             "(--container-image) or apptainer");
  int margin = o.signal_margin_s >= 0 ? o.signal_margin_s : core::signal_margin_s(time_s);
  NS_CHECK(margin >= 1 && margin <= 65535,
           "--signal-margin must be between 1 and 65535 seconds (Slurm's limit), got {}", margin);
  NS_CHECK(time_s == 0 || margin < time_s,
           "--signal-margin {} s is not shorter than --time ({} s): the job would be told to stop "
           "before it starts; give a margin below the time limit",
           margin, time_s);

  std::vector<std::string> d;
  const std::string p = "#SBATCH";
  d.push_back(fmt::format("{} --job-name={}", p, sanitize_name(o.name)));
  d.push_back(fmt::format("{} --output={}/logs/slurm-%j.out", p, o.out));
  d.push_back(fmt::format("{} --nodes={}", p, o.nodes));
  if (l.ntasks > 0) {
    d.push_back(fmt::format("{} --ntasks-per-node={}", p, l.tasks_per_node));
  } else {
    d.push_back(fmt::format("{} --exclusive", p));
  }
  if (o.cpus_per_rank > 0) d.push_back(fmt::format("{} --cpus-per-task={}", p, o.cpus_per_rank));
  if (!o.mem_per_rank.empty()) {
    long mb = parse_size_mb(o.mem_per_rank, "--mem-per-rank");
    long per_cpu = (mb + std::max(o.cpus_per_rank, 1) - 1) / std::max(o.cpus_per_rank, 1);
    d.push_back(fmt::format("{} --mem-per-cpu={}M", p, per_cpu));
  }
  if (o.gpus_per_node > 0) d.push_back(fmt::format("{} --gres=gpu:{}", p, o.gpus_per_node));
  if (time_s > 0) d.push_back(fmt::format("{} --time={}", p, slurm_time(time_s)));
  if (!o.partition.empty()) {
    check_directive_safe(o.partition, "--partition");
    d.push_back(fmt::format("{} --partition={}", p, o.partition));
  }
  if (!o.account.empty()) {
    check_directive_safe(o.account, "--account");
    d.push_back(fmt::format("{} --account={}", p, o.account));
  }
  d.push_back(fmt::format("{} --signal=B:USR1@{}", p, margin));
  for (const auto& e : o.extra) d.push_back(extra_line(e, p));

  std::string ranks = ranks_block(o, l);
  std::vector<std::vector<std::string>> cmd;
  if (o.launcher == "srun") {
    std::vector<std::string> s{"srun", "--mpi=pmix", "--ntasks=\"$ns_ntasks\""};
    if (o.cpus_per_rank > 0) s.push_back(fmt::format("--cpus-per-task={}", o.cpus_per_rank));
    s.push_back("--distribution=block");
    s.push_back("--kill-on-bad-exit=1");
    cmd.push_back(s);
  } else {
    ranks += "ns_mpi=()\n[ \"$(id -u)\" = 0 ] && ns_mpi+=(--allow-run-as-root)\n";
    cmd.push_back(mpirun_words(kind, o));
  }
  if (kind == "pyxis") {
    cmd.push_back({shell_quote("--container-image=" + o.image),
                   shell_quote("--container-mounts=" + join(container_mounts(o), ","))});
  } else if (kind == "apptainer") {
    cmd.push_back(apptainer_words(o));
  }
  cmd.push_back(run_words(o));

  Rendered r;
  r.submit = "sbatch " + shell_quote(o.script);
  r.vars = {{"directives", join(d, "\n")},
            {"signal_margin", std::to_string(margin)},
            {"ranks", chomp(ranks)},
            {"launch", format_command(cmd)}};
  return r;
}

Rendered lsf_vars(const JobOptions& o, const Layout& l, long time_s) {
  const std::string kind = container_kind(o);
  NS_CHECK(kind != "pyxis", "--container pyxis is a Slurm plugin; on LSF use docker (RIS: "
                            "-a 'docker(IMAGE)') or apptainer");
  NS_CHECK(l.ntasks > 0,
           "LSF needs the number of slots at submission: pass --ranks-per-node (worker ranks per "
           "host, e.g. the cores of one host minus one) or --gpus-per-node");
  std::vector<std::string> d;
  const std::string p = "#BSUB";
  d.push_back(fmt::format("{} -J {}", p, sanitize_name(o.name)));
  d.push_back(fmt::format("{} -o {}/logs/lsf-%J.out", p, o.out));
  d.push_back(fmt::format("{} -e {}/logs/lsf-%J.err", p, o.out));
  d.push_back(fmt::format("{} -n {}", p, l.ntasks));
  std::string res;
  if (!o.mem_per_rank.empty()) {
    long mb = parse_size_mb(o.mem_per_rank, "--mem-per-rank");
    res = fmt::format("rusage[mem={}MB] ", mb);
    d.push_back(fmt::format("{} -M {}MB", p, mb));
  }
  res += o.nodes == 1 ? "span[hosts=1]" : fmt::format("span[ptile={}]", l.tasks_per_node);
  d.push_back(fmt::format("{} -R \"{}\"", p, res));
  if (o.gpus_per_node > 0) d.push_back(fmt::format("{} -gpu \"num={}\"", p, o.gpus_per_node));
  if (!o.partition.empty()) {
    check_directive_safe(o.partition, "--queue");
    d.push_back(fmt::format("{} -q {}", p, o.partition));
  }
  if (time_s > 0) d.push_back(fmt::format("{} -W {}", p, lsf_time(time_s)));
  if (!o.account.empty()) {
    check_directive_safe(o.account, "--group");
    d.push_back(fmt::format("{} -G {}", p, o.account));
  }
  if (kind == "docker") {
    check_directive_safe(o.image, "--image");
    d.push_back(fmt::format("{} -a \"docker({})\"", p, o.image));
  }
  for (const auto& e : o.extra) d.push_back(extra_line(e, p));

  // RIS reads these at submission: host networking and IPC so MPI ranks on several hosts (and in
  // several containers on one host) reach each other, and the folders to mount.
  std::string env, env_block;
  if (kind == "docker") {
    std::vector<std::string> vols;
    for (const auto& m : container_mounts(o)) vols.push_back(m);
    env = fmt::format("LSF_DOCKER_NETWORK=host LSF_DOCKER_IPC=host LSF_DOCKER_VOLUMES={} ",
                      shell_quote(join(vols, " ")));
    env_block = fmt::format(
        "# The Docker application profile reads these at submission (host network and IPC for "
        "MPI).\nexport LSF_DOCKER_NETWORK=host LSF_DOCKER_IPC=host\nexport LSF_DOCKER_VOLUMES={}\n",
        shell_quote(join(vols, " ")));
  }
  std::vector<std::vector<std::string>> cmd{mpirun_words(kind, o)};
  if (kind == "apptainer") cmd.push_back(apptainer_words(o));
  cmd.push_back(run_words(o));

  Rendered r;
  r.submit = env + "bsub < " + shell_quote(o.script);
  r.vars = {{"directives", join(d, "\n")},
            {"ranks", chomp(ranks_block(o, l))},
            {"docker_env", chomp(env_block)},
            {"launch", format_command(cmd)}};
  return r;
}

Rendered local_vars(const JobOptions& o, const Layout& l) {
  const std::string kind = container_kind(o);
  NS_CHECK(o.nodes == 1, "launch local runs on this machine only (got {} nodes); use "
                         "`launch slurm` or `launch lsf` for several", o.nodes);
  NS_CHECK(kind != "pyxis", "--container pyxis needs Slurm; locally use docker or apptainer");
  NS_CHECK(o.extra.empty(), "--extra adds scheduler lines, and `launch local` has no scheduler; "
                            "use --setup for shell lines");
  std::vector<std::vector<std::string>> cmd;
  // Its own session, so a Ctrl-C in the terminal reaches only this script, which turns it into
  // the one USR1 that drains the ranks (mpirun would abort them on SIGINT).
  std::vector<std::string> head{"setsid"};
  if (kind == "docker") {
    std::vector<std::string> dk{"docker", "run", "--rm", "--network=host", "--ipc=host",
                                "--user", "\"$(id -u):$(id -g)\""};
    if (o.gpus_per_node > 0) dk.insert(dk.end(), {"--gpus=all", "-e", "NS_GPUS_PER_NODE"});
    for (const auto& m : container_mounts(o)) {
      dk.push_back("-v");
      dk.push_back(shell_quote(m));
    }
    dk.push_back(shell_quote(o.image));
    head.insert(head.end(), dk.begin(), dk.end());
  } else if (kind == "apptainer") {
    auto a = apptainer_words(o);
    head.insert(head.end(), a.begin(), a.end());
  }
  auto mpi = mpirun_words(kind, o);
  if (head.size() == 1) {
    head.insert(head.end(), mpi.begin(), mpi.end());
    cmd.push_back(head);
  } else {
    cmd.push_back(head);
    cmd.push_back(mpi);
  }
  cmd.push_back(run_words(o));
  Rendered r;
  r.submit = "bash " + shell_quote(o.script);
  r.vars = {{"ranks", chomp(ranks_block(o, l))}, {"launch", format_command(cmd)}};
  (void)l;
  return r;
}

}  // namespace

const char* scheduler_name(Scheduler s) {
  switch (s) {
    case Scheduler::kSlurm: return "slurm";
    case Scheduler::kLsf: return "lsf";
    case Scheduler::kLocal: return "local";
  }
  return "?";
}

bool is_cpu_image(const std::string& image) {
  // "registry:5000/lab/neurosweep:0.1@sha256:..." -> name "neurosweep", tag "0.1".
  std::string ref = image.substr(0, image.find('@'));
  std::string last = ref.substr(ref.find_last_of('/') == std::string::npos
                                    ? 0
                                    : ref.find_last_of('/') + 1);
  std::string name = last, tag;
  if (ends_with(last, ".sif")) {
    name = last.substr(0, last.size() - 4);
  } else if (const auto colon = last.find(':'); colon != std::string::npos) {
    name = last.substr(0, colon);
    tag = last.substr(colon + 1);
  }
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
    return s;
  };
  name = lower(name);
  tag = lower(tag);
  auto gpu_marker = [](const std::string& s) {
    if (s.find("gpu") != std::string::npos || s.find("cuda") != std::string::npos) return true;
    for (size_t i = s.find("cu"); i != std::string::npos; i = s.find("cu", i + 1)) {
      if (i + 2 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 2]))) return true;
    }
    return false;
  };
  return name.find("neurosweep") != std::string::npos && !gpu_marker(name) && !gpu_marker(tag);
}

std::string gpu_image_warning(const JobOptions& o) {
  if (o.gpus_per_node <= 0 || o.image.empty() || !is_cpu_image(o.image)) return "";
  return fmt::format(
      "--gpus-per-node {} with --image {}, which looks like the CPU image (Debian's CPU-only "
      "LibTorch: its ranks stop with exit 2 on a GPU allocation, or run on the CPUs with "
      "-- --device cpu); for GPUs build Dockerfile.gpu or neurosweep-gpu.def (launch/README.md, "
      "\"GPU images\") and pass that image, e.g. --image neurosweep-gpu:0.1",
      o.gpus_per_node, o.image);
}

namespace {
// The job scripts' one rule for a step that ends with another status than the run's own, as a
// shell function every template defines ({{own_status}}) and calls after the step.
constexpr const char* kOwnStatusFunction = R"sh(# A step can end with another status than the run's own: when a rank it took out as silent
# (`run --rank-timeout`) never answered again, rank 0 writes everything, then ends the job with
# MPI_Abort, and srun reports the ranks it killed (137). The state.json this step wrote at the
# run's end holds the run's own status (exit_status): that one decides (0 complete, 3 drained,
# 5 cannot write). A crash leaves no such state.json newer than the step's start (ns_t0).
ns_take_own_status() {
  [[ $ns_rc =~ ^[02345]$ ]] && return 0
  [ "$(stat -c %Y "$ns_out/state.json" 2>/dev/null || echo 0)" -ge "$ns_t0" ] || return 0
  local own
  own=$(sed -n 's/^ *"exit_status": *\([0-9][0-9]*\).*/\1/p' "$ns_out/state.json" 2>/dev/null | head -n 1)
  [ -n "$own" ] || return 0
  ns_note "the step ended with status $ns_rc after the run ended with status $own (state.json); taken as $own"
  ns_rc=$own
}
)sh";
}  // namespace

std::string shell_quote(const std::string& word) {
  if (word.empty()) return "''";
  bool plain = std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string("_./:=@%+,-").find(c) !=
                                                              std::string::npos;
  });
  if (plain) return word;
  std::string out = "'";
  for (char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string render(const std::string& text, const std::map<std::string, std::string>& vars,
                   const std::string& where) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t open = text.find("{{", pos);
    if (open == std::string::npos) break;
    size_t close = text.find("}}", open + 2);
    NS_CHECK(close != std::string::npos, "template {}: '{{{{' at offset {} is never closed", where,
             open);
    std::string key = text.substr(open + 2, close - open - 2);
    auto it = vars.find(key);
    if (it == vars.end()) {
      std::vector<std::string> known;
      for (const auto& kv : vars) known.push_back("{{" + kv.first + "}}");
      NS_FAIL_CODE(kExitBadInput, "template {} uses {{{{{}}}}}, which `neurosweep launch` does not "
                   "fill; known placeholders: {}", where, key, join(known, " "));
    }
    out.append(text, pos, open - pos);
    out += it->second;
    pos = close + 2;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

long parse_size_mb(const std::string& text, const std::string& what) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  std::string number = text.substr(0, i), unit = text.substr(i);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](char c) { return std::toupper(c); });
  if (unit.size() == 2 && unit[1] == 'B') unit.pop_back();
  double factor = unit.empty() || unit == "M" ? 1.0 : unit == "G" ? 1024.0 : unit == "T" ? 1048576.0
                                                                            : unit == "K" ? 1.0 / 1024
                                                                                          : -1.0;
  char* end = nullptr;
  double v = number.empty() ? -1.0 : std::strtod(number.c_str(), &end);
  NS_CHECK(factor > 0 && v > 0 && end && *end == '\0',
           "{} '{}' is not a memory size; write e.g. 4G, 500M or 4096 (MB)", what, text);
  return static_cast<long>(std::ceil(v * factor));
}

std::string slurm_time(long s) {
  long d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
  return d > 0 ? fmt::format("{}-{:02}:{:02}:{:02}", d, h, m, sec)
               : fmt::format("{:02}:{:02}:{:02}", h, m, sec);
}

std::string lsf_time(long s) {
  long minutes = (s + 59) / 60;
  return fmt::format("{}:{:02}", minutes / 60, minutes % 60);
}

Job make_job(const JobOptions& o, const std::string& template_text) {
  for (const auto* p : {&o.spec, &o.out, &o.script}) {
    NS_CHECK(is_abs(*p), "internal: launch paths must be absolute, got '{}'", *p);
  }
  NS_CHECK(!o.binary.empty(), "internal: no neurosweep binary for the job");
  check_directive_safe(o.out, "output directory");
  NS_CHECK(o.max_resubmits >= 0, "--max-resubmits must be 0 or more, got {}", o.max_resubmits);
  NS_CHECK(o.max_crash_resubmits >= 0,
           "--max-crash-resubmits must be 0 or more (0: never resubmit after a crash), got {}",
           o.max_crash_resubmits);
  NS_CHECK(o.crash_pause_s >= 0, "--crash-pause must be 0 or more seconds, got {}",
           o.crash_pause_s);
  if (!o.run_args.empty()) {
    NS_CHECK(o.run_args[0].rfind("-", 0) == 0,
             "unexpected argument '{}' after the sweep file; arguments for `neurosweep run` go "
             "after '--', e.g. `neurosweep launch slurm sweep.json -- --deadline 3h`",
             o.run_args[0]);
  }
  for (const auto& s : o.setup) {
    NS_CHECK(s.find('\n') == std::string::npos,
             "--setup '{}' spans several lines; repeat --setup once per line", s);
  }
  const long time_s =
      o.time.empty() ? 0 : static_cast<long>(std::ceil(core::parse_duration_s(o.time, "--time")));
  const Layout l = layout_of(o);

  Rendered r;
  switch (o.scheduler) {
    case Scheduler::kSlurm: r = slurm_vars(o, l, time_s); break;
    case Scheduler::kLsf: r = lsf_vars(o, l, time_s); break;
    case Scheduler::kLocal:
      NS_CHECK(o.time.empty(), "--time is a scheduler limit; `launch local` has none "
                               "(pass `-- --deadline 4h` to bound the run)");
      r = local_vars(o, l);
      break;
  }
  r.vars["spec"] = o.spec;
  r.vars["out"] = o.out;
  r.vars["out_q"] = shell_quote(o.out);
  r.vars["script"] = o.script;
  r.vars["script_q"] = shell_quote(o.script);
  r.vars["submit"] = r.submit;
  r.vars["max_resubmits"] = std::to_string(o.max_resubmits);
  r.vars["max_crash_resubmits"] = std::to_string(o.max_crash_resubmits);
  r.vars["crash_pause"] = std::to_string(o.crash_pause_s);
  r.vars["setup"] = setup_block(o);
  r.vars["own_status"] = kOwnStatusFunction;

  const std::string where =
      template_text.empty() ? fmt::format("{}.sh.in", scheduler_name(o.scheduler)) : "--template";
  Job job;
  job.script_path = o.script;
  job.text = render(template_text.empty() ? load_template(o.scheduler) : template_text, r.vars,
                    where);
  job.submit_command = r.submit;
  job.ranks = l.ntasks;
  return job;
}

}  // namespace ns::launch
