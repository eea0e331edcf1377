#!/usr/bin/env bash
# Time and peak memory of `neurosweep plan` and of the start of `neurosweep run` for large grids:
# the sizes the spec's cap on trials (sweeps/spec.cpp, kMaxTrials) has to be measured against.
#
#   bash bench/plan_sizes.sh [N...]      (default: 100000 1000000; each N a multiple of 10000)
#
# Each N is a grid of 100 x values, 100 y values and N/10000 k values: of the quadratic family
# (9 parameters; no sleep, no data), or with WIDE=1 of the command family with 25 parameters
# (x, y, k and 22 fixed ones; argv /bin/true), since a trial's memory grows with its parameters. `plan` validates, enumerates, checks each configuration and lists 20 trials. `run`
# (one rank, no mpirun) is given `--deadline 1s` (inside the default 120 s margin): it parses, enumerates, checks,
# builds the pending trials and the schedule, then drains at once without starting a trial, so
# its time and memory are the start-up's and the wind-down's. Figures: elapsed seconds and the maximum resident set
# size from GNU time (/usr/bin/time -v). Each command runs under `prlimit --as` (MEM_CAP, default
# 16G) and `timeout` (TIME_CAP, default 600 s): a size that does not fit prints its exit status
# instead of taking the machine down. NS_BINARY picks the binary (default build/app/neurosweep).
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS_BINARY:-build/app/neurosweep}
MEM_CAP=${MEM_CAP:-16G}
TIME_CAP=${TIME_CAP:-600}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100000 1000000)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ns_plan_sizes.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB; $NS; caps: --as $MEM_CAP, ${TIME_CAP} s"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

values() {  # values FIRST COUNT FORMAT: COUNT comma-separated values
  awk -v a="$1" -v n="$2" -v f="$3" 'BEGIN { for (i = 0; i < n; i++) printf (i ? ", " : "") f, a + i }'
}
# measure LABEL CMD...: runs CMD under the caps; prints "elapsed_s peak_MiB exit_status".
measure() {
  local log="$OUT/$1.time" rc=0
  /usr/bin/time -v -o "$log" timeout "$TIME_CAP" prlimit --as="$(numfmt --from=iec "$MEM_CAP")" \
    "${@:2}" >"$OUT/$1.out" 2>"$OUT/$1.err" || rc=$?
  local wall kb
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" |
         awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.1f", s }')
  kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
  echo "$wall $((kb / 1024)) $rc"
}

echo "family: $([ "${WIDE:-0}" = 1 ] && echo 'command, 25 parameters' || echo 'quadratic, 9 parameters')"
printf '%10s  %8s  %9s  %5s  %11s  %9s  %5s\n' trials "plan s" "plan MiB" exit "run start s" "run MiB" exit
for n in "${SIZES[@]}"; do
  [ $((n % 10000)) -eq 0 ] || { echo "$n: not a multiple of 10000" >&2; exit 2; }
  spec="$OUT/g$n.json"
  family='"family": "quadratic"'
  if [ "${WIDE:-0}" = 1 ]; then
    family='"family": "command", "command": {"argv": ["/bin/true", "{x}"], "metrics": ["score"],
            "params": {"x": 0.0, "y": 0.0, "k": 0, '"$(values 0 22 '"p%02d": 0.0')"'}}'
  fi
  cat >"$spec" <<J
{"name": "g$n", $family,
 "grid": {"x": [$(values 0 100 '%d.5')], "y": [$(values 0 100 '%d.25')], "k": [$(values 0 $((n / 10000)) '%d')]},
 "metric": "score", "mode": "max"}
J
  read -r pw pm prc < <(measure "plan$n" "$NS" plan "$spec" --out "$OUT/out$n")
  read -r rw rm rrc < <(measure "run$n" "$NS" run "$spec" --out "$OUT/out$n" --deadline 1s)
  printf '%10s  %8s  %9s  %5s  %11s  %9s  %5s\n' "$n" "$pw" "$pm" "$prc" "$rw" "$rm" "$rrc"
  grep -h "trials, .* already done" "$OUT/run$n.err" "$OUT/run$n.out" | head -1 | sed 's/^/    /' || true
  [ "$prc" -eq 0 ] || tail -2 "$OUT/plan$n.err" | sed 's/^/    plan: /'
  [ "$rrc" -eq 0 ] || [ "$rrc" -eq 3 ] || tail -2 "$OUT/run$n.err" | sed 's/^/    run: /'
  rm -rf "$OUT/out$n"
done
echo "(exit: 0 ok; run exits 3 when the deadline stops it, as asked; 124 timeout, 134/137 memory)"
