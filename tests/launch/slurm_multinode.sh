#!/usr/bin/env bash
# `neurosweep launch slurm` on a private multi-node Slurm cluster that this test builds on one
# machine (issue 30):
#   - network namespaces: a "switch" namespace holding a bridge, one namespace for slurmctld
#     ("ctl", 10.213.0.2) and one per node (node1..node3, 10.213.0.11..13), each joined to the
#     bridge by a veth pair created directly inside the namespaces: nothing is added to the root
#     namespace; each namespace has `lo` up;
#   - a UTS namespace per node (and for ctl) for its hostname, so a job's `hostname` and
#     neurosweep's `host` column say node1/node2/node3;
#   - one munged (its unix socket is a file, reachable from every network namespace), slurmctld,
#     one slurmd per node with its own spool, pid and log files (%n);
#   - Open MPI 4.1 ranks started by `srun --mpi=pmix` on several nodes, talking TCP over the bridge.
# Clients (sbatch, squeue, scancel, sinfo, scontrol) run from the root namespace through wrappers
# in $work/bin that enter the ctl namespace; inside a job (a node namespace, on the bridge) the
# same wrappers run the real client directly, as the job script's own resubmission does.
# Then, end to end:
#   1. whole sweeps with --nodes 2 and --nodes 3: every trial once, the hosts used, ranks per node
#      and threads per rank (sweep.json's provenance.rank_devices) as asked;
#   2. a walltime drain (--time 1) resubmitted and resumed across 2 nodes;
#   3. a killed node: node2's ranks SIGKILLed mid-sweep, the job ends FAILED, the job script
#      resubmits it (--max-crash-resubmits) and the sweep completes, every trial once;
#   4. a cancelled maskcnn sweep: scancel mid-trial, submit again, trials resume from their
#      checkpoints;
#   5. a stopped rank: node2's rank gets SIGSTOP under `run --rank-timeout 5`; rank 0 takes it out,
#      its trial runs elsewhere, the job completes (MPI_Abort(0) ends the stopped process).
# Takes 2.5 to 3 minutes here (2 cores, also with two busy loops beside it).
# Run: ctest --test-dir build -L multinode --output-on-failure
# or by hand: NS_BINARY=build/app/neurosweep bash tests/launch/slurm_multinode.sh
# (NS_KEEP=1 keeps the scratch folder; NS_TEST_TIME_SCALE multiplies the waits.)
# Exit 77 (ctest: skipped) when Slurm, munge, ip or unshare is missing, this is not root, or the
# namespaces, the bridge, the veths or a UTS namespace cannot be created.
set -euo pipefail

: "${NS_BINARY:?set NS_BINARY to the neurosweep binary}"
NS_BINARY=$(readlink -f "$NS_BINARY")
t0=$(date +%s)
say() { printf '[slurm_multinode %3ds] %s\n' $(( $(date +%s) - t0 )) "$*"; }
fail() { say "FAIL: $*"; exit 1; }
source "$(dirname "$0")/slurm_lib.sh"  # scaled, wait_sweep, spec
skip() { say "skip: $*"; exit 77; }

for tool in munged slurmctld slurmd sbatch squeue scancel sinfo scontrol srun munge unmunge ip nsenter unshare python3; do
  command -v "$tool" >/dev/null || skip "$tool not found (bash scripts/setup.sh --deps; iproute2, util-linux)"
done
[ "$(id -u)" = 0 ] || skip "network namespaces and a private slurmd need root"
"$NS_BINARY" launch slurm --help >/dev/null 2>&1 || fail "'$NS_BINARY launch slurm' does not work"

work=$(mktemp -d /tmp/ns_slurm_mn.XXXXXX)
chmod 755 "$work"  # munged refuses a socket folder (and path) that is not world-executable
# Namespace and veth names carry a suffix of this run (veth names: at most 15 characters), so two
# runs, or this test beside launch_slurm, cannot collide.
sfx=$(printf '%x' $(( $$ % 65536 )))$(printf '%02x' $(( RANDOM % 256 )))
pfx=nsmn$sfx
sw=${pfx}sw ctl=${pfx}ctl
nodes=(node1 node2 node3)
netns=("$sw" "$ctl")
for n in "${nodes[@]}"; do netns+=("${pfx}$n"); done
created=()      # namespaces this run created
daemon_pids=()  # munged, slurmctld, slurmd x3
export SLURM_CONF=$work/slurm.conf
clients_ready=0

cleanup() {
  local rc=$?
  set +e
  trap - INT TERM
  if [ "$clients_ready" = 1 ]; then
    # Jobs first (their slurmstepd processes outlive slurmd), then the daemons by recorded pid.
    local ids
    ids=$(squeue -h -o %i 2>/dev/null)
    [ -n "$ids" ] && scancel --full --quiet $ids 2>/dev/null
    for _ in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    dump_logs
  fi
  local pid
  stop_daemons
  # Anything still running in a namespace of this run (a slurmstepd, a rank), then the namespaces;
  # deleting a namespace deletes the veth ends and the bridge inside it.
  local ns
  for ns in "${created[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
  done
  for ns in "${created[@]}"; do
    for _ in $(seq 20); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    ip netns del "$ns" 2>/dev/null || say "cleanup: could not delete namespace $ns"
  done
  if [ "${NS_KEEP:-0}" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the network: a bridge in its own namespace, one veth pair per namespace ---------------------
for ns in "${netns[@]}"; do
  ip netns add "$ns" 2>"$work/ip.err" || skip "ip netns add $ns failed: $(cat "$work/ip.err")"
  created+=("$ns")
  ip -n "$ns" link set lo up || skip "cannot set lo up in $ns"
done
ip -n "$sw" link add br0 type bridge 2>"$work/ip.err" || skip "no bridge support: $(cat "$work/ip.err")"
ip -n "$sw" link set br0 up
i=0
declare -A addr=([$ctl]=10.213.0.2)
for n in "${nodes[@]}"; do addr[${pfx}$n]=10.213.0.$(( 11 + ${n#node} - 1 )); done
for ns in "$ctl" "${nodes[@]/#/$pfx}"; do
  i=$((i + 1))
  # Both ends are created inside the namespaces (never in the root one).
  ip -n "$sw" link add "m${sfx}s$i" type veth peer name "m${sfx}n$i" netns "$ns" 2>"$work/ip.err" ||
    skip "no veth support: $(cat "$work/ip.err")"
  ip -n "$sw" link set "m${sfx}s$i" master br0
  ip -n "$sw" link set "m${sfx}s$i" up
  ip -n "$ns" addr add "${addr[$ns]}/24" dev "m${sfx}n$i"
  ip -n "$ns" link set "m${sfx}n$i" up
done
nsenter --net=/run/netns/${pfx}node1 unshare --uts sh -c 'hostname nstest; [ "$(hostname)" = nstest ]' \
  2>"$work/ip.err" || skip "unshare --uts failed: $(cat "$work/ip.err")"
# Same L2 segment: no routing, no ip_forward. That every node reaches ctl (and ctl each node) shows
# when the slurmds register and `srun -N 3` runs; node to node, when the MPI ranks talk.
say "network up: bridge in $sw, ctl 10.213.0.2, node1..3 10.213.0.11..13"

# --- clients: from the root namespace through ctl; inside a job (on the bridge) directly ---------
mkdir -p "$work/bin"
rootnet=$(readlink /proc/self/ns/net)
for c in sbatch squeue scancel sinfo scontrol srun; do
  real=$(command -v "$c")
  cat >"$work/bin/$c" <<EOF
#!/bin/sh
# Written by tests/launch/slurm_multinode.sh: the root namespace has no route to slurmctld.
if [ "\$(readlink /proc/self/ns/net)" = "$rootnet" ]; then exec nsenter --net=/run/netns/$ctl $real "\$@"; fi
exec $real "\$@"
EOF
  chmod 755 "$work/bin/$c"
done
export PATH=$work/bin:$PATH  # sbatch exports it (and SLURM_CONF) into the jobs

# --- munge, slurmctld, one slurmd per node ------------------------------------------------------
for n in "${nodes[@]}"; do mkdir -p "$work/spool/$n" "$work/tmp/$n"; done
start_munged
# One munged serves every namespace: a unix socket bound to a path is reached through the file
# system, whatever the network namespace.
nsenter --net=/run/netns/${pfx}node2 munge -n -S "$work/run/munge.socket" 2>"$work/ip.err" |
  unmunge -S "$work/run/munge.socket" >/dev/null 2>>"$work/ip.err" ||
  fail "munge from node2's namespace failed: $(cat "$work/ip.err")"

{ cat <<EOF
ClusterName=nsmulti
SlurmctldHost=ctl(10.213.0.2)
SlurmctldPort=6817
SlurmdPort=6818
# The pmix plugin makes TmpFS/spmix_appdir_<uid>_<job>.<step> on every node of a step: with one
# /tmp for all nodes the second node finds it there and the step fails ("Cannot create client
# cli tmpdir ... File exists"). TmpFS expands %n: one folder per node.
TmpFS=$work/tmp/%n
SlurmctldPidFile=$work/run/slurmctld.pid
SlurmdPidFile=$work/run/slurmd-%n.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd-%n.log
MinJobAge=600
EOF
  slurm_conf_common
  cat <<EOF
NodeName=node1 NodeAddr=10.213.0.11 CPUs=8 RealMemory=4000 State=UNKNOWN
NodeName=node2 NodeAddr=10.213.0.12 CPUs=8 RealMemory=4000 State=UNKNOWN
NodeName=node3 NodeAddr=10.213.0.13 CPUs=8 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=node[1-3] Default=YES MaxTime=INFINITE State=UP
EOF
} >"$SLURM_CONF"

# slurmctld checks that its host name is the SlurmctldHost: its own UTS namespace says "ctl".
# `nsenter`, `unshare` (no --fork) and `sh -c 'exec'` all exec, so $! is the daemon's pid.
# nsenter rather than `ip netns exec`: the latter mounts a private /sys without /sys/fs/cgroup,
# and slurmd 22.05 then fails ("Unable to initialize cgroup plugin") even with proctrack/pgid.
nsenter --net=/run/netns/$ctl unshare --uts sh -c 'hostname ctl; exec slurmctld -D -i' \
  >>"$work/log/slurmctld.out" 2>&1 &
daemon_pids+=($!)
for n in "${nodes[@]}"; do
  nsenter --net=/run/netns/${pfx}$n unshare --uts sh -c "hostname $n; exec slurmd -D -N $n" \
    >>"$work/log/slurmd-$n.out" 2>&1 &
  daemon_pids+=($!)
done
clients_ready=1
for _ in $(seq 150); do
  [ "$(sinfo -h -o '%T %D' 2>/dev/null)" = "idle 3" ] && break
  sleep 0.2
done
[ "$(sinfo -h -o '%T %D' 2>/dev/null)" = "idle 3" ] ||
  fail "the private Slurm did not come up: $(sinfo -h -N -o '%N %T' 2>&1 | tr '\n' ' ')"
say "Slurm up: $(sinfo -h -N -o '%N:%T' | tr '\n' ' ')"
[ "$(srun -N 3 hostname | sort | tr '\n' ' ')" = "node1 node2 node3 " ] ||
  fail "srun -N 3 hostname does not name node1..node3"

# --- Open MPI across the namespaces -----------------------------------------------------------
# No OMPI_MCA_* settings: under `srun --mpi=pmix` the ranks are started by the slurmstepds (no
# ORTE daemons, so no OOB TCP between nodes), exchange their addresses through Slurm's pmix
# plugin, and each rank sees only lo and its node's veth: the TCP BTL leaves out 127.0.0.0/8 by
# default and takes the bridge subnet by itself (ranks of one node use shared memory). Tried
# with and without btl_tcp_if_include/oob_tcp_if_include=10.213.0.0/24: the same. The job runs
# with the environment a user's would have.

# --- helpers (scaled, wait_sweep and spec are in slurm_lib.sh) --------------------------------


# Checks results.csv in $1: $2 rows, each trial id once, every status ok; prints the trials per
# host and fails unless the hosts are exactly $3 (space-separated, sorted).
check_results() {
  local out=$1 want=$2 hosts=$3
  python3 - "$out/results.csv" "$want" "$hosts" <<'PY' || fail "results in $1 are not as expected"
import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
want, hosts = int(sys.argv[2]), sys.argv[3].split()
ids = [r["trial_id"] for r in rows]
bad = [r for r in rows if r["status"] != "ok"]
per_host = collections.Counter(r["host"] for r in rows)
print(f"  {len(rows)} rows, {len(set(ids))} distinct trial ids, {len(bad)} not ok (want {want}); "
      f"trials per host: {dict(sorted(per_host.items()))}")
sys.exit(0 if len(rows) == want and len(set(ids)) == want and not bad and sorted(per_host) == hosts
         else 1)
PY
}

# Checks sweep.json's provenance.rank_devices in $1: the coordinator (rank 0, not training) on
# node1 (the batch node), $2 training ranks on each of the hosts $3, each with $4 threads.
check_ranks() {
  local out=$1 per_node=$2 hosts=$3 threads=$4
  python3 - "$out/sweep.json" "$per_node" "$hosts" "$threads" <<'PY' || fail "ranks in $1 are not as asked"
import collections, json, sys
p = json.load(open(sys.argv[1]))["provenance"]
per_node, hosts, threads = int(sys.argv[2]), sys.argv[3].split(), int(sys.argv[4])
devs = p["rank_devices"]
for d in devs:
    print(f"  rank {d['rank']}: host {d['host']}, device {d['device']}, threads {d['threads']}, "
          f"trains {d['trains']}")
workers = collections.Counter(d["host"] for d in devs if d["trains"])
coord = [d for d in devs if not d["trains"]]
ok = (p["ranks"] == len(devs) == 1 + per_node * len(hosts)
      and sorted(workers) == hosts and all(c == per_node for c in workers.values())
      and len(coord) == 1 and coord[0]["rank"] == 0 and coord[0]["host"] == "node1"
      and all(d["threads"] == threads and d["device"] == "cpu" for d in devs))
print(f"  workers per host: {dict(sorted(workers.items()))} (want {per_node} on each of {hosts}), "
      f"threads {sorted({d['threads'] for d in devs})} (want {threads})")
sys.exit(0 if ok else 1)
PY
}


launch() { "$NS_BINARY" launch slurm "$@"; }
# wait_job_end JOB BOUND: waits (at most BOUND s, scaled) until Slurm has ended JOB, then sets
# `state` to its JobState, Reason and ExitCode; returns 1 at the bound.
wait_job_end() {
  local bound start
  bound=$(scaled "$2") start=$(date +%s)
  until scontrol -o show job "$1" 2>/dev/null | grep -Eq 'JobState=(FAILED|COMPLETED|CANCELLED|TIMEOUT|NODE_FAIL)'; do
    [ $(( $(date +%s) - start )) -lt "$bound" ] || return 1
    sleep 0.5
  done
  state=$(scontrol -o show job "$1" | grep -o 'JobState=[A-Z_]* Reason=[^ ]*\|ExitCode=[0-9:]*' | tr '\n' ' ')
  state=${state% }
}
rows_in() { local n; n=$({ wc -l <"$1/results.csv"; } 2>/dev/null) || n=1; echo $(( n - 1 )); }
# Prints the lines of files $2.. that match $1, indented; nothing (and no failure) when none do.
show() { local re=$1; shift; grep -h -E "$re" "$@" 2>/dev/null | sed 's/^/  | /' || :; }

# --- 1. whole sweeps on 2 and 3 nodes ----------------------------------------------------------
# whole_sweep CASE NAME NODES RANKS_PER_NODE CPUS_PER_RANK HOSTS [--submit]: 12 quick trials on
# NODES nodes; every trial once on each of HOSTS, ranks and threads as asked, and no "can't
# honor" warning from srun. Without --submit the test runs the submit command launch prints.
whole_sweep() {
  local case=$1 name=$2 nodes=$3 per_node=$4 cpus=$5 hosts=$6 submit
  spec "$name" 0.3 4 3 >"$work/$name.json"
  submit=$(launch "$work/$name.json" --nodes "$nodes" --ranks-per-node "$per_node" --cpus-per-rank "$cpus" \
    --time 5 --max-resubmits 0 ${7:-})
  say "$case: --nodes $nodes --ranks-per-node $per_node --cpus-per-rank $cpus ${7:-}: $submit"
  if [ -z "${7:-}" ]; then
    [ "$submit" = "sbatch $work/$name/job-slurm.sh" ] || fail "$case: unexpected submit command: $submit"
    eval "$submit"
  fi
  wait_sweep "$work/$name" 120
  cat "$work/$name/jobs.log"
  grep -q "start: attempt 0, $((1 + nodes * per_node)) ranks on $nodes node(s)" "$work/$name/jobs.log" ||
    fail "$case: the job did not start $((1 + nodes * per_node)) ranks on $nodes nodes"
  tail -n 1 "$work/$name/jobs.log" | grep -q 'sweep complete' || fail "$case: no 'sweep complete' in jobs.log"
  check_results "$work/$name" 12 "$hosts"
  check_ranks "$work/$name" "$per_node" "$hosts" "$cpus"
  ! grep -q "can't honor" "$work/$name"/logs/slurm-*.out ||
    fail "$case: srun warned: $(grep "can't honor" "$work/$name"/logs/slurm-*.out)"
  say "$case: sweep complete on $nodes nodes"
}
whole_sweep 1a two 2 2 1 "node1 node2"
whole_sweep 1b three 3 1 2 "node1 node2 node3" --submit

# --- 2. a walltime drain on 2 nodes, resubmitted and resumed ----------------------------------
# 24 trials x 4 s on 2 workers (one per node) = 48 s of work. A job may run 60 s and Slurm sends
# USR1 10..40 s into it (the nominal 20 s margin, checked every 30 s: see slurm_e2e.sh), so the
# first job never finishes; 8 follow-ups are enough even when each gets only 10 s.
spec cut 4 6 4 >"$work/cut.json"
launch "$work/cut.json" --nodes 2 --ranks-per-node 1 --cpus-per-rank 1 --time 1 --signal-margin 20 \
  --max-resubmits 8 --submit -- --deadline-margin 5 >"$work/cut_submit.txt"
say "2: --nodes 2 --time 1: $(cat "$work/cut_submit.txt")"
wait_sweep "$work/cut" 240
check_drained "$work/cut"
[ "$(grep -c 'start: attempt .*, 3 ranks on 2 node(s)' "$work/cut/jobs.log")" -ge 2 ] ||
  fail "2: not every job ran 3 ranks on 2 nodes"
show 'already done' "$work"/cut/logs/slurm-*.out
grep -Eq "[1-9][0-9]* already done" "$work"/cut/logs/slurm-*.out || fail "2: no follow-up job resumed the sweep"
check_results "$work/cut" 24 "node1 node2"
say "2: sweep cut at the time limit and finished by $(grep -c 'start: attempt' "$work/cut/jobs.log") jobs on 2 nodes"

# --- 3. a node's ranks killed: the job fails, the script resubmits, the sweep completes --------
# 18 trials x 1.5 s on 3 workers (one per node). Once some rows are in, every neurosweep process
# in node2's network namespace (its one worker rank) gets SIGKILL, as from the OOM killer or a
# node failure.
spec killed 1.5 6 3 >"$work/killed.json"
# NS_MN_KILLED_RUN_ARGS: options for `run` in this case (the heartbeat's default is on, 600 s;
# "--rank-timeout 0" measures the job without it: it ends the same way).
read -r -a killed_run_args <<<"${NS_MN_KILLED_RUN_ARGS:-}"
[ ${#killed_run_args[@]} -eq 0 ] || killed_run_args=(-- "${killed_run_args[@]}")
launch "$work/killed.json" --nodes 3 --ranks-per-node 1 --cpus-per-rank 1 --time 5 --max-resubmits 0 \
  --max-crash-resubmits 2 --crash-pause 2 --submit "${killed_run_args[@]}" >"$work/killed_submit.txt"
say "3: --nodes 3 --max-crash-resubmits 2 --crash-pause 2: $(cat "$work/killed_submit.txt")"
job=$(grep -o 'Submitted batch job [0-9]*' "$work/killed_submit.txt" | grep -o '[0-9]*$')
node2_ranks() {
  local pid
  for pid in $(ip netns pids "${pfx}node2"); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = neurosweep ] && echo "$pid"
  done
  return 0
}
bound=$(scaled 60) start=$(date +%s)
while :; do
  rows=$(rows_in "$work/killed")
  victims=$(node2_ranks)
  [ "$rows" -ge 3 ] && [ -n "$victims" ] && break
  [ $(( $(date +%s) - start )) -lt "$bound" ] || fail "3: no rows or no rank on node2 after ${bound}s"
  sleep 0.5
done
for pid in $victims; do
  say "3: SIGKILL pid $pid on $(nsenter --uts --target "$pid" hostname 2>/dev/null || echo '?')" \
    "(SLURM_PROCID=$({ tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | sed -n 's/^SLURM_PROCID=//p')), $rows rows in"
  kill -9 "$pid" 2>/dev/null || :
done
killed_at=$(date +%s)
wait_job_end "$job" 60 || fail "3: job $job did not end after $(scaled 60)s"
say "3: job $job: $state, ended $(( $(date +%s) - killed_at )) s after the kill (polled every 0.5 s)"
show 'srun: error|Killed|status|failed to TCP|connect\(\)' "$work"/killed/logs/slurm-"$job".out
wait_sweep "$work/killed" 120
cat "$work/killed/jobs.log"
[[ $state == *JobState=FAILED* ]] || fail "3: job $job ended $state, not FAILED"
grep -q "slurm job $job: crashed with status [0-9]*; resubmitting (crash resubmission 1 of 2) after 2 s" \
  "$work/killed/jobs.log" || fail "3: job $job was not resubmitted after the crash"
grep -q "slurm job $job: crashed; resubmitted as job" "$work/killed/jobs.log" || fail "3: the resubmission failed"
tail -n 1 "$work/killed/jobs.log" | grep -q 'sweep complete' || fail "3: the resubmitted job did not finish"
next=$(sed -n "s/.*slurm job $job: crashed; resubmitted as job \([0-9]*\).*/\1/p" "$work/killed/jobs.log")
show 'ended without writing its state|already done' "$work/killed/logs/slurm-$next.out"
grep -q 'the previous run .* ended without writing its state' "$work/killed/logs/slurm-$next.out" ||
  fail "3: job $next did not say that the killed run left state.json at running"
check_results "$work/killed" 18 "node1 node2 node3"
say "3: node2's ranks killed, job $job FAILED, resubmitted, sweep complete"

# --- 4. a maskcnn sweep cancelled mid-trial and submitted again: trials resume from checkpoints --
cat >"$work/mask.json" <<J
{"name": "mask", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": 1, "images": 600, "size": 20, "neurons": 8, "repeats": 3},
 "fixed": {"channels": 8, "k1": 5},
 "training": {"phases": 2, "max_iters_per_phase": 600, "eval_every": 10, "patience": 1000, "batch_size": 64},
 "grid": {"lr": [0.003, 0.01], "readout_scale": [0.001, 0.01]},
 "metric": "val_ccnorm", "mode": "max", "out": "$work/mask"}
J
launch "$work/mask.json" --nodes 2 --ranks-per-node 1 --cpus-per-rank 1 --time 5 --max-resubmits 0 \
  --submit >"$work/mask_submit.txt"
say "4: maskcnn on 2 nodes: $(cat "$work/mask_submit.txt")"
job=$(grep -o 'Submitted batch job [0-9]*' "$work/mask_submit.txt" | grep -o '[0-9]*$')
# Cancel once two trials have trained past 100 iterations (their curve.csv: a line every 10).
bound=$(scaled 90) start=$(date +%s)
while :; do
  training=0
  for c in "$work"/mask/trials/*/curve.csv; do
    [ -f "$c" ] && [ "$(wc -l <"$c")" -ge 11 ] && training=$((training + 1))
  done
  [ "$training" -ge 2 ] && break
  [ $(( $(date +%s) - start )) -lt "$bound" ] || fail "4: no two trials training after ${bound}s"
  sleep 0.5
done
rows=$(rows_in "$work/mask")
say "4: scancel $job ($training trials past 100 iterations, $rows rows)"
scancel "$job"
bound=$(scaled 60) start=$(date +%s)
while [ -n "$(squeue -h -o %i)" ]; do
  [ $(( $(date +%s) - start )) -lt "$bound" ] || fail "4: job $job still queued ${bound}s after scancel"
  sleep 0.5
done
say "4: job $job: $(scontrol -o show job "$job" | grep -o 'JobState=[A-Z_]*\|ExitCode=[0-9:]*' | tr '\n' ' ')"
cat "$work/mask/jobs.log"
grep -q "slurm job $job: .*after TERM (scancel or preemption); not resubmitting" "$work/mask/jobs.log" ||
  fail "4: the cancelled job was resubmitted or did not log the TERM"
show 'draining|interrupted|Exited' "$work/mask/logs/slurm-$job.out"
checkpointed=()
for d in "$work"/mask/trials/*/; do [ -f "$d/resume.pt" ] && checkpointed+=("$(basename "$d")"); done
[ ${#checkpointed[@]} -ge 1 ] || fail "4: no trial left a resume.pt after scancel"
say "4: checkpoints (resume.pt) of ${checkpointed[*]}; submitting again: sbatch $work/mask/job-slurm.sh"
sbatch "$work/mask/job-slurm.sh" >"$work/mask_resubmit.txt"
job2=$(grep -o '[0-9]*$' "$work/mask_resubmit.txt")
wait_sweep "$work/mask" 150
cat "$work/mask/jobs.log"
tail -n 1 "$work/mask/jobs.log" | grep -q 'sweep complete' || fail "4: the second job did not finish"
show 'already done|resuming at iteration' "$work/mask/logs/slurm-$job2.out"
for t in "${checkpointed[@]}"; do
  grep -q "trial $t: resuming at iteration" "$work/mask/logs/slurm-$job2.out" ||
    fail "4: trial $t did not resume from its checkpoint in job $job2"
done
python3 - "$work/mask/results.csv" "${checkpointed[@]}" <<'PY'
import csv, sys
rows = {r["trial_id"]: r for r in csv.DictReader(open(sys.argv[1], newline=""))}
for t in sys.argv[2:]:
    print(f"  resumed trial {t}: host {rows[t]['host']}, rank {rows[t]['rank']}, attempt {rows[t]['attempt']}")
PY
check_results "$work/mask" 4 "$(python3 -c 'import csv,sys; print(" ".join(sorted({r["host"] for r in csv.DictReader(open(sys.argv[1]))})))' "$work/mask/results.csv")"
say "4: cancelled maskcnn sweep resumed ${#checkpointed[@]} trial(s) from their checkpoints"
# --- 5. a node's rank that stops answering: taken out by the heartbeat, the sweep completes ------
# As 3, but node2's worker rank gets SIGSTOP (a process hung in a driver call, a node that froze):
# Slurm and Open MPI see nothing wrong. With `run --rank-timeout 5` rank 0 hears no heartbeat
# from it for 5 s, takes it out and hands its trial to another node's rank; once every trial has
# its row it ends the job with MPI_Abort(0), which also ends the stopped process.
spec stopped 1.5 6 3 >"$work/stopped.json"
launch "$work/stopped.json" --nodes 3 --ranks-per-node 1 --cpus-per-rank 1 --time 5 --max-resubmits 0 \
  --max-crash-resubmits 2 --crash-pause 2 --submit -- --rank-timeout 5 >"$work/stopped_submit.txt"
say "5: --nodes 3, run --rank-timeout 5: $(cat "$work/stopped_submit.txt")"
job=$(grep -o 'Submitted batch job [0-9]*' "$work/stopped_submit.txt" | grep -o '[0-9]*$')
bound=$(scaled 60) start=$(date +%s)
while :; do
  victims=$(node2_ranks)
  [ -n "$victims" ] && grep -q ',node2,' "$work/stopped/results.csv" 2>/dev/null && break
  [ $(( $(date +%s) - start )) -lt "$bound" ] || fail "5: no row from node2 after ${bound}s"
  sleep 0.5
done
for pid in $victims; do kill -STOP "$pid"; done
stopped_at=$(date +%s)
say "5: SIGSTOP pid(s) $(echo $victims) on node2, $(rows_in "$work/stopped") rows in"
wait_job_end "$job" 90 || {
  for pid in $victims; do kill -CONT "$pid" 2>/dev/null || :; done
  fail "5: job $job did not end $(scaled 90)s after node2's rank stopped"
}
say "5: job $job: $state, ended $(( $(date +%s) - stopped_at )) s after the stop"
show 'sent nothing|MPI_Abort|taken out|srun: error' "$work"/stopped/logs/slurm-"$job".out
wait_sweep "$work/stopped" 120
cat "$work/stopped/jobs.log"
grep -Eq "rank [0-9]+ \(node2\) sent nothing for [0-9]+ s while it ran trial" "$work"/stopped/logs/slurm-"$job".out ||
  fail "5: rank 0 did not take node2's rank out"
[[ $state == *JobState=COMPLETED* ]] || fail "5: job $job ended $state, not COMPLETED"
grep -q "slurm job $job: sweep complete" "$work/stopped/jobs.log" || fail "5: the first job did not complete the sweep"
python3 - "$work/stopped/state.json" <<'PY' || fail "5: state.json does not name the silent rank"
import json, sys
s = json.load(open(sys.argv[1]))
silent = s["silent_ranks"]
print(f"  state {s['state']}, silent_ranks {silent}")
sys.exit(0 if s["state"] == "complete" and len(silent) == 1 and silent[0]["host"] == "node2" else 1)
PY
for pid in $victims; do
  ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] ||
    { kill -9 "$pid"; fail "5: the stopped rank $pid outlived its job"; }
done
check_results "$work/stopped" 18 "node1 node2 node3"
say "5: node2's rank stopped, taken out after 5 s, sweep complete in job $job"
say "PASS"
