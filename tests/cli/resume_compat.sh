#!/usr/bin/env bash
# A sweep written by an earlier version resumes under this one with its trial ids and rows kept.
# tests/data/resume_v0/ holds the output directories (results.csv, sweep.json, best.json,
# state.json) that neurosweep at commit 4bcec5d, before the core/ and engine refactor of issue 13,
# wrote for the two specs there. Each spec is then grown by one grid value and run by this
# binary: the old rows must stay byte for byte, their trials must not run again, this binary's
# `plan` must give the old trials the same ids, and only the new trials may add rows.
# tests/data/resume_v1/ holds an ASHA, a TPE and a PBT sweep that neurosweep at commit 9da2899
# wrote and drained (SIGTERM) part way, each with a trial running; this binary resumes each to
# the end (checks at the end of this file, helper: tests/data/resume_v1/compare.py).
source "$(dirname "$0")/lib.sh"
FIX=$SRC/tests/data/resume_v0
cd "$TMP"
cp -r "$FIX"/. .
grow() {  # grow SPEC PARAM VALUE: appends VALUE to the grid list of PARAM, writes SPEC.grown.json
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
spec, param, value = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
j = json.load(open(spec))
j["grid"][param].append(value)
json.dump(j, open(spec.replace(".json", ".grown.json"), "w"), indent=2)
PY
}
check() {  # check NAME PARAM VALUE NEW_TRIALS
  local name=$1 param=$2 value=$3 new=$4
  local old_rows; old_rows=$(wc -l <"$name/results.csv")
  cp "$name/results.csv" "$TMP/$name.before.csv"
  # This binary's ids for the unchanged spec are the ones in the old results, all done.
  "$NS" plan --json "$name.json" >"$TMP/plan.json" 2>"$TMP/err" || { cat "$TMP/err"; fail "plan $name"; }
  python3 - "$TMP/plan.json" "$name/results.csv" <<'PY' || fail "$name: plan ids differ from the old rows"
import csv, json, sys
plan = json.load(open(sys.argv[1]))
old = {r["trial_id"] for r in csv.DictReader(open(sys.argv[2]))}
ids = {t["id"] for t in plan["list"]}
assert ids == old, (sorted(ids - old), sorted(old - ids))
assert all(t["done"] for t in plan["list"]), "a trial of the old sweep is not seen as done"
assert plan["pending"] == 0, plan["pending"]
PY
  grow "$name.json" "$param" "$value"
  "$NS" run --threads 1 --out "$name" "$name.grown.json" >"$TMP/out" 2>"$TMP/err" ||
    { cat "$TMP/err"; fail "run $name.grown.json"; }
  grep -q "earlier definition\|earlier metric" "$TMP/err" && { cat "$TMP/err"; fail "$name: rows flagged as scored differently"; }
  # The old rows are the first lines, byte for byte; exactly NEW_TRIALS rows follow.
  head -n "$old_rows" "$name/results.csv" | cmp -s - "$TMP/$name.before.csv" ||
    fail "$name: the old rows changed"
  local rows; rows=$(wc -l <"$name/results.csv")
  [ "$rows" -eq $((old_rows + new)) ] || fail "$name: $rows lines, expected $((old_rows + new))"
  # Only the new trials ran: the old ones have no trial directory (the fixture holds none).
  python3 - "$name/results.csv" "$old_rows" "$param" "$value" <<'PY' || fail "$name: a row is not where it should be"
import csv, json, sys, os
rows = list(csv.DictReader(open(sys.argv[1])))
old, param, value = int(sys.argv[2]) - 1, sys.argv[3], json.loads(sys.argv[4])
for r in rows[old:]:
    assert json.loads(r[param]) == value, r[param]
    assert r["status"] == "ok", (r["trial_id"], r["status"], r["error"])
for r in rows[:old]:
    assert not os.path.exists(os.path.join(os.path.dirname(sys.argv[1]), "trials", r["trial_id"])), r["trial_id"]
PY
  echo "$name: $((old_rows - 1)) old rows kept, $new new trials ran"
}
check quadratic_v0 x 2.0 8
check maskcnn_v0 lr 0.001 1

# Sweeps written by 9da2899 (tests/data/resume_v1/README.md), resumed by this binary from a copy
# at another path: the old rows and journal lines stay byte for byte at the start, no trial with
# a row runs again (no event of it, its trial directory unchanged), and the rows (ids, statuses,
# parameters, metrics, rungs) and journal (timing fields aside) equal expected/NAME.*: what
# 9da2899 wrote running the same spec uninterrupted (ASHA's promotions and stops, TPE's
# proposals). PBT: its decisions after the fixture follow the ranking rule of 6613cb5 (a member
# keeps its last value across an exploit), so they are compared with this repository's pinned
# resume (expected/pbt_v1.resumed.*), and with 9da2899's run up to the first decision after the
# fixture, which must be where they part (a result differing first would be a restore fault).
V1=$SRC/tests/data/resume_v1
mkdir "$TMP/v1"
cd "$TMP/v1"
cp -r "$V1"/asha_v1 "$V1"/tpe_v1 "$V1"/pbt_v1 "$V1"/*.json "$V1"/pbt_prog.py .
for name in asha_v1 tpe_v1 pbt_v1; do
  expect_exit 0 "$NS" run --threads 1 --out "$name" "$name.json"
  grep -q "earlier definition\|earlier metric" "$TMP/err" && { cat "$TMP/err"; fail "$name: rows flagged as scored differently"; }
  if [ "$name" = pbt_v1 ]; then
    python3 "$V1/compare.py" check "$V1/$name" "$name" "$V1/expected/pbt_v1.resumed" "$V1/expected/pbt_v1" ||
      fail "$name: the resumed sweep differs"
  else
    python3 "$V1/compare.py" check "$V1/$name" "$name" "$V1/expected/$name" || fail "$name: the resumed sweep differs"
  fi
done
echo "PASS resume_compat"
