#!/usr/bin/env bash
# Every runnable example, so none rots: each examples/<dir>/spec.json (found by a glob, so a new
# example is picked up; the nine search examples must be there) is planned at full size, then
# rewritten smaller (tiny data, a tenth of the iterations, fewer trials, out in $TMP), run on 3
# ranks and reported (terminal, and HTML where the Plotly bundle is cached). The lab's sample
# specs (examples/lab/*.json) are planned. The bring-your-own-model examples have their own tests
# and are skipped here: command_pytorch (cli_command_pytorch), torchscript_v1 and
# torchscript_fashion (they need a module exported by Python first; cli_torchscript_*).
source "$(dirname "$0")/lib.sh"
EX=$SRC/examples
EXPECTED="grid random tpe tpe_asha asha hyperband median pbt replicates"
OWN_TESTS="command_pytorch torchscript_v1 torchscript_fashion"
for e in $EXPECTED; do
  [ -f "$EX/$e/spec.json" ] || fail "examples/$e/spec.json is missing"
  [ -f "$EX/$e/README.md" ] || fail "examples/$e/README.md is missing"
done

# reduce SRC DST OUT: the spec SRC made small enough for a test, written to DST with "out" OUT.
reduce() {
  python3 - "$@" <<'PY'
import json, sys
src, dst, out = sys.argv[1:]
s = json.load(open(src))
s["out"] = out
F = 10  # iterations (the maskcnn resource) divided by this, everywhere they appear
d = s.get("data", {})
if d.get("kind") == "simulated":
    d.update(images=min(d.get("images", 4000), 300), size=16, neurons=min(d.get("neurons", 60), 8),
             repeats=min(d.get("repeats", 6), 4))
fixed = s.setdefault("fixed", {})
if "channels" in fixed:
    fixed["channels"] = 4
if "batch_size" in fixed:
    fixed["batch_size"] = 32
t = s.get("training", {})
for k in ("max_iters_per_phase", "eval_every"):
    if k in t:
        t[k] = max(1, t[k] // F)
if "phases" in t:
    t["phases"] = 1
sched = s.get("scheduler")
if sched and sched.get("resource") == "iterations":
    for k in ("min", "max", "every"):
        if k in sched:
            sched[k] = max(1, sched[k] // F)
search = s.get("search", {})
if search.get("kind") == "pbt":
    for k in ("interval", "max"):
        if k in search:
            search[k] = max(1, search[k] // F)
replicates = s.get("repeats", 1) * s.get("folds", 1)
s["repeats"] = min(s.get("repeats", 1), 2)
r = s.get("random")
if r:
    r["count"] = min(r["count"], 5 if replicates > 1 else 9)
    if "population" in search:
        search["population"] = r["count"]
if "startup" in search:
    search["startup"] = min(search["startup"], 4)
for k, values in s.get("grid", {}).items():
    s["grid"][k] = values[:2]
json.dump(s, open(dst, "w"), indent=1)
PY
}

# check_sweep DIR TRIALS: the sweep ended complete with TRIALS rows, each ok or stopped (no
# failed or timeout row), at least one ok row with a finite metric.
check_sweep() {
  python3 - "$@" <<'PY'
import csv, collections, json, math, sys
out, trials = sys.argv[1], int(sys.argv[2])
state = json.load(open(f"{out}/state.json"))
assert state["state"] == "complete", state
rows = list(csv.DictReader(open(f"{out}/results.csv", newline="")))
metric = json.load(open(f"{out}/sweep.json"))["metric"]
st = collections.Counter(r["status"] for r in rows)
assert rows and len(rows) == trials, (len(rows), trials)
assert set(st) <= {"ok", "stopped"}, (st, [r["error"] for r in rows if r["status"] not in ("ok", "stopped")][:3])
assert any(r["status"] == "ok" and math.isfinite(float(r[metric])) for r in rows), st
print(f"{out}: {len(rows)} rows {dict(st)}")
PY
}

html=1
"$NS" report --help >/dev/null
n=0
for spec in "$EX"/*/spec.json; do
  dir=$(dirname "$spec")
  name=$(basename "$dir")
  case " $OWN_TESTS " in *" $name "*) echo "examples/$name: skipped (its own test)"; continue ;; esac
  # The full-size spec parses and its configurations build.
  expect_exit 0 "$NS" plan "$spec" --list 0
  grep -q "^sweep '$name' " "$TMP/out" || { cat "$TMP/out"; fail "examples/$name: plan names no sweep '$name'"; }
  # Reduced, run on 3 ranks (a coordinator and 2 workers).
  reduce "$spec" "$TMP/$name.json" "$TMP/$name"
  expect_exit 0 "$NS" plan "$TMP/$name.json" --json
  trials=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['trials'])" "$TMP/out")
  start=$SECONDS
  expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/$name.json"
  check_sweep "$TMP/$name" "$trials" || fail "examples/$name: $(tail -5 "$TMP/err")"
  echo "examples/$name: ran reduced in $((SECONDS - start)) s"
  expect_exit 0 "$NS" report "$TMP/$name"
  grep -q "^sweep $name, " "$TMP/out" || { cat "$TMP/out"; fail "examples/$name: the report does not name the sweep"; }
  # The section each example's README points at, by what its spec asks for.
  python3 - "$TMP/$name.json" "$TMP/out" <<'PY' || fail "examples/$name: the report lacks its search's section"
import json, sys
s, report = json.load(open(sys.argv[1])), open(sys.argv[2]).read()
want = []
if "scheduler" in s:
    want.append("Early stopping: trials by the rung where they ended")
kind = s.get("search", {}).get("kind")
if kind == "tpe":
    want.append("Search: tpe after")
if kind == "pbt":
    want += ["PBT: population", "winning schedule"]
if s.get("repeats", 1) * s.get("folds", 1) > 1:
    want.append(f"(n={s.get('repeats', 1) * s.get('folds', 1)})")
missing = [w for w in want if w not in report]
if missing:
    sys.exit(f"{sys.argv[1]}: the report has no {missing}:\n{report}")
PY
  if [ "$html" = 1 ]; then
    set +e
    "$NS" report "$TMP/$name" --html "$TMP/$name.html" >/dev/null 2>"$TMP/err"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ] && grep -q "Plotly not found" "$TMP/err"; then
      echo "examples.sh: SKIPPED the HTML reports: $(cat "$TMP/err")" >&2
      html=0
    else
      [ "$rc" -eq 0 ] || { cat "$TMP/err"; fail "examples/$name: report --html exit $rc"; }
      grep -q 'id="ns-data"' "$TMP/$name.html" || fail "examples/$name: the HTML report has no data"
    fi
  fi
  n=$((n + 1))
done
[ "$n" -ge 9 ] || fail "ran $n examples, expected at least 9"

# The lab's sample specs: planned at full size. lee8k_grid reads the lab's HDF5 file, which is
# not in the repository: it is planned on a simulated file in the same format.
"$NS" simulate --out "$TMP/8k.h5" --data '{"images": 600, "size": 32, "neurons": 10}' >/dev/null
for spec in "$EX"/lab/*.json; do
  name=$(basename "$spec" .json)
  python3 - "$spec" "$TMP/lab_$name.json" "$TMP/8k.h5" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
if s["data"].get("kind") == "hdf5":
    s["data"]["path"] = sys.argv[3]
json.dump(s, open(sys.argv[2], "w"))
PY
  dir=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['data'].get('dir', ''))" "$spec")
  if [ -n "$dir" ] && [ ! -d "$dir" ]; then
    echo "examples.sh: SKIPPED planning examples/lab/$name.json: its data directory $dir is missing" \
         "(install the Debian package dataset-fashion-mnist, as scripts/setup.sh does)" >&2
    continue
  fi
  expect_exit 0 "$NS" plan "$TMP/lab_$name.json" --list 0
  grep -q "^sweep '$name' " "$TMP/out" || { cat "$TMP/out"; fail "examples/lab/$name.json: $(head -1 "$TMP/out")"; }
  head -1 "$TMP/out"
done
echo "PASS examples"
