#!/usr/bin/env bash
# Per-trial overhead of the command family (models/command/): N trials of programs that do
# nothing but print their result line, against N trials of the built-in quadratic family (no
# process, no sleep), one worker (-np 1: rank 0 runs the trials itself). The difference per
# trial is what the command family adds; the same programs spawned N times from a bash loop
# show how much of that is the operating system's fork + exec + the program's own start-up,
# and so the engine's share (config.json, log.txt, the environment, pipes, the wait).
#
#   bash bench/command_overhead.sh [N=200] [ROUNDS=2] [N_TORCH=20]
#
# N_TORCH=0 leaves the torch variant out. The sweeps write under $TMPDIR (default /tmp): creating
# the trial's files is part of the cost, and depends on the filesystem. NS_BINARY picks the
# binary (default build/app/neurosweep).
# Programs: /bin/echo '{"final": {"score": X}}'; /usr/bin/python3 -c (the interpreter's
# start-up, what a Python training script pays before its first line); the same with
# `import torch` (N_TORCH trials: seconds each). Each round runs every variant once, in turn.
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS_BINARY:-build/app/neurosweep}
N=${1:-200}
ROUNDS=${2:-2}
N_TORCH=${3:-20}
PY=/usr/bin/python3
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ns_cmd_overhead.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs; $NS; output in $OUT ($(df --output=fstype "$OUT" | tail -1))"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

grid() { python3 -c "import sys; print(', '.join(f'{i}.5' for i in range(int(sys.argv[1]))))" "$1"; }
# The program's one line, {"final": {"score": X}}, as an argv template ({{ }} are literal braces).
LINE='"{{\"final\": {{\"score\": {x}}}}}"'
# spec NAME COUNT FAMILY-JSON: writes $OUT/NAME.json
spec() {
  cat >"$OUT/$1.json" <<J
{"name": "$1", $3, "grid": {"x": [$(grid "$2")]}, "metric": "score", "mode": "max"}
J
}
spec quadratic "$N" '"family": "quadratic"'
spec echo "$N" '"family": "command", "command": {"argv": ["/bin/echo", '"$LINE"'], "params": {"x": 0.0}, "metrics": ["score"]}'
spec python "$N" '"family": "command", "command": {"argv": ["'$PY'", "-c", "import sys; print(sys.argv[1])", '"$LINE"'], "params": {"x": 0.0}, "metrics": ["score"]}'
[ "$N_TORCH" -gt 0 ] && spec torch "$N_TORCH" '"family": "command", "command": {"argv": ["'$PY'", "-c", "import sys, torch; print(sys.argv[1])", '"$LINE"'], "params": {"x": 0.0}, "metrics": ["score"]}'

now() { date +%s.%N; }
# sweep NAME ROUND: one run; appends "NAME trials wall_s" to $OUT/times
sweep() {
  local t0 t1
  t0=$(now)
  "$NS" run "$OUT/$1.json" --out "$OUT/$1.$2" >"$OUT/log" 2>&1 || { cat "$OUT/log"; exit 1; }
  t1=$(now)
  echo "sweep $1 $2 $t0 $t1" >>"$OUT/times"
}
# loop NAME COUNT CMD...: the same program COUNT times from bash (fork + exec + wait each)
loop() {
  local name=$1 count=$2 t0 t1 i; shift 2
  t0=$(now)
  for ((i = 0; i < count; i++)); do "$@" >/dev/null; done
  t1=$(now)
  echo "loop $name $count $t0 $t1" >>"$OUT/times"
}
line='{"final": {"score": 1.5}}'
for r in $(seq 1 "$ROUNDS"); do
  sweep quadratic "$r"
  sweep echo "$r"
  sweep python "$r"
  [ "$N_TORCH" -gt 0 ] && sweep torch "$r"
  loop echo "$N" /bin/echo "$line"
  loop python "$N" "$PY" -c "import sys; print(sys.argv[1])" "$line"
  [ "$N_TORCH" -gt 0 ] && loop torch "$N_TORCH" "$PY" -c "import sys, torch; print(sys.argv[1])" "$line"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$OUT" "$N" "$N_TORCH" <<'PY'
import collections, csv, statistics, sys
out, n, n_torch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
count = {"quadratic": n, "echo": n, "python": n, "torch": n_torch}
sweeps, loops = collections.defaultdict(list), collections.defaultdict(list)
for line in open(f"{out}/times"):
    kind, name, x, t0, t1 = line.split()
    if kind == "sweep":
        rows = list(csv.DictReader(open(f"{out}/{name}.{x}/results.csv")))
        assert len(rows) == count[name] and all(r["status"] == "ok" for r in rows), (name, rows[:2])
        walls = sorted(float(r["wall_s"]) for r in rows)
        sweeps[name].append(((float(t1) - float(t0)) / len(rows) * 1e3, statistics.median(walls) * 1e3))
    else:
        loops[name].append((float(t1) - float(t0)) / int(x) * 1e3)
fmt = lambda xs: " / ".join(f"{v:.2f}" for v in xs)
quad = [w for w, _ in sweeps["quadratic"]]
print(f"\nms per trial, one value per round ({len(quad)} rounds); {n} trials ({n_torch} with torch), 1 worker (-np 1)")
print(f"  {'program':<30} {'sweep wall / trial':>22} {'minus quadratic':>20} {'median trial wall_s':>22} {'bash loop / spawn':>20}")
print(f"  {'quadratic (no process)':<30} {fmt(quad):>22} {'':>20} {fmt([m for _, m in sweeps['quadratic']]):>22} {'':>20}")
names = {"echo": "/bin/echo", "python": "python3 -c (no imports)", "torch": "python3 -c 'import torch'"}
if not sweeps["torch"]:
    del names["torch"]
for k, label in names.items():
    w = [a for a, _ in sweeps[k]]
    print(f"  {label:<30} {fmt(w):>22} {fmt([a - q for a, q in zip(w, quad)]):>20} "
          f"{fmt([m for _, m in sweeps[k]]):>22} {fmt(loops[k]):>20}")
print("engine's share (sweep minus quadratic minus the bash loop's spawn), ms per trial:")
for k, label in names.items():
    print(f"  {label:<30} " + " / ".join(f"{a - q - l:.2f}" for (a, _), q, l in zip(sweeps[k], quad, loops[k])))
PY
