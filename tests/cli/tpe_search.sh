#!/usr/bin/env bash
# TPE search (engine/tpe_search.hpp) end to end with the quadratic family: the first trials are
# the random search's own draws; SIGKILLs at random moments of a one-rank run (results arrive in
# one order, so the search is deterministic) and resumes give exactly the proposals, trials and
# scores of an uninterrupted run; a 2-worker MPI run completes; bad search blocks are exit 2
# with nothing written.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<'J'
{"family": "quadratic",
 "random": {"count": 24, "params": {"x": {"dist": "uniform", "low": -5, "high": 5},
                                    "y": {"dist": "uniform", "low": -5, "high": 5},
                                    "k": {"dist": "int", "low": 0, "high": 3}}},
 "search": {"kind": "tpe", "startup": 6},
 "training": {"sleep_s": 0.15}, "metric": "score", "mode": "max", "seed": 7}
J
python3 - "$TMP/spec.json" "$TMP/random.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); del s["search"]; json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/ref"
expect_exit 0 "$NS" run "$TMP/random.json" --out "$TMP/random"
RANDOM=31
kill_one_rank "$TMP/spec.json" "$TMP/kill" 5
[ "$HITS" -ge 4 ] || fail "only $HITS kills hit a running sweep"
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/kill"
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
def rows(d):
    return list(csv.DictReader(open(f"{tmp}/{d}/results.csv")))
def proposals(d):
    ev = [json.loads(l) for l in open(f"{tmp}/{d}/reports.jsonl")]
    return [(e["index"], e["trial"]) for e in ev if e.get("event") == "tpe_propose"]
ref, got, rnd = rows("ref"), rows("kill"), rows("random")
assert len(ref) == 24 and all(r["status"] == "ok" for r in ref)
# The first 6 trials are the random search's first 6 draws.
assert [r["trial_id"] for r in ref[:6]] == [r["trial_id"] for r in rnd[:6]]
# Resumed after kills: the same proposals in the same order, none twice, the same scores.
assert proposals("kill") == proposals("ref"), (proposals("kill"), proposals("ref"))
assert len({r["trial_id"] for r in got}) == len(got) == 24
score = {r["trial_id"]: r["score"] for r in ref}
assert all(score[r["trial_id"]] == r["score"] for r in got)
best = lambda rs, n: max(float(r["score"]) for r in rs[:n])
print(f"ok: {len(got)} trials after kills, proposals as uninterrupted; best score: TPE "
      f"{best(ref, 24):.3f}, random {best(rnd, 24):.3f}")
PY
# report: the best so far against trials, where TPE took over.
expect_exit 0 "$NS" report "$TMP/ref"
grep -q "^Search: tpe after 6 random draws; best score" "$TMP/out" || { cat "$TMP/out"; fail "report: no search section"; }
python3 - "$TMP" <<'PY'
import csv, sys
tmp = sys.argv[1]
rows = list(csv.DictReader(open(f"{tmp}/ref/results.csv")))
lines = open(f"{tmp}/out").read().split("Search:")[1].split("\n\n")[0].splitlines()[2:]
got = {int(l.split()[0]): l.split()[1] for l in lines if l.strip() and l.split()[0].isdigit()}
for n, shown in got.items():
    want = max(float(r["score"]) for r in rows[:n])
    assert f"{want:.4g}" == shown, (n, want, shown)
assert set(got) == {5, 6, 10, 20, 24}, got
print("ok: report's best so far at", sorted(got))
PY
expect_exit 0 "$NS" report "$TMP/ref" --html "$TMP/r.html"
grep -q '"search":{"best":\[' "$TMP/r.html" || fail "report --html: no search data"
# TPE + ASHA, one rank, killed and resumed: the same trials, rungs and scores as uninterrupted.
python3 - "$TMP/spec.json" "$TMP/asha.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["random"]["count"] = 18
s["scheduler"] = {"kind": "asha", "resource": "steps", "min": 1, "max": 9, "eta": 3}
s["training"] = {"sleep_s": 0.1, "noise": 0.05}
json.dump(s, open(sys.argv[2], "w"))
PY
expect_exit 0 "$NS" run "$TMP/asha.json" --out "$TMP/aref"
arows() { [ -f "$TMP/akill/reports.jsonl" ] && grep -c '"start"' "$TMP/akill/reports.jsonl" || echo 0; }
for i in 1 2 3; do
  "$NS" run "$TMP/asha.json" --out "$TMP/akill" >/dev/null 2>&1 &
  pid=$!
  before=$(arows)
  wait_until 10 '[ "$(arows)" -gt "$before" ] || ! kill -0 "$pid" 2>/dev/null' || true
  sleep "0.$((RANDOM % 10))"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  echo "TPE + ASHA kill point $i: $(arows) rung starts so far"
done
expect_exit 0 "$NS" run "$TMP/asha.json" --out "$TMP/akill"
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
def rows(d):
    return {r["trial_id"]: (r["status"], r["rung"], r["score"]) for r in csv.DictReader(open(f"{tmp}/{d}/results.csv"))}
def proposals(d):
    ev = [json.loads(l) for l in open(f"{tmp}/{d}/reports.jsonl")]
    return [(e["index"], e["trial"]) for e in ev if e.get("event") == "tpe_propose"]
a, b = rows("aref"), rows("akill")
assert len(a) == 18 and a == b, (a, b)
assert len(proposals("aref")) == 12 and proposals("akill") == proposals("aref")
stopped = sum(1 for v in a.values() if v[0] == "stopped")
print(f"ok: TPE + ASHA after kills: the same 18 trials, rungs and scores ({stopped} stopped early)")
PY
# Two workers: results arrive in any order; the search still completes with distinct trials.
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/spec.json" --out "$TMP/mpi"
[ "$(tail -n +2 "$TMP/mpi/results.csv" | cut -d, -f1 | sort -u | wc -l)" -eq 24 ] || fail "mpi: expected 24 distinct trials"
bad() { bad_spec "$TMP/spec.json" "$@"; }  # bad NAME PYTHON-EDIT EXPECTED (lib.sh)
bad grid 's["grid"] = {"k": [0, 1]}; del s["random"]["params"]["k"]' '$.grid: cannot be combined with "search"'
bad norandom 'del s["random"]' '$.search: needs a "random" block'
bad kind 's["search"]["kind"] = "bayes"' '$.search.kind'
bad key 's["search"]["trials"] = 5' '$.search.trials: unknown key'
bad startup 's["search"]["startup"] = 0' '$.search.startup'
echo "PASS tpe_search"
