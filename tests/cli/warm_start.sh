#!/usr/bin/env bash
# Warm start (engine/warm_start.hpp, issue 28) end to end with the quadratic family:
#  - TPE warm-started from an earlier random sweep reads its prior observations once into
#    warm_start.json (sweep.json names the source); SIGKILLs and resumes give the proposals of
#    the uninterrupted run even after the earlier sweep's directory changed;
#  - a grid reuses the rows an earlier grid of the same trials finished, and runs the rest;
#  - a directory that is not a sweep is refused (exit 2), nothing written.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/first.json" <<'J'
{"name": "first", "family": "quadratic",
 "random": {"count": 16, "params": {"x": {"dist": "uniform", "low": -4, "high": 4},
                                    "y": {"dist": "uniform", "low": -4, "high": 4}}},
 "metric": "score", "mode": "max", "seed": 1}
J
expect_exit 0 "$NS" run "$TMP/first.json" --out "$TMP/first"
cat >"$TMP/warm.json" <<J
{"name": "warm", "family": "quadratic",
 "random": {"count": 14, "params": {"x": {"dist": "uniform", "low": -3, "high": 3},
                                    "y": {"dist": "uniform", "low": -3, "high": 3}}},
 "search": {"kind": "tpe", "startup": 0}, "warm_start": ["$TMP/first"],
 "training": {"sleep_s": 0.15}, "metric": "score", "mode": "max", "seed": 2}
J
expect_exit 0 "$NS" run "$TMP/warm.json" --out "$TMP/ref"
grep -q "warm start: [0-9]* prior observation(s) for TPE from 1 earlier sweep" "$TMP/err" ||
  { cat "$TMP/err"; fail "no warm start line"; }
# The earlier sweep changes between runs: the resumed runs still use what the first read.
spoil_first() { [ "$1" -ne 1 ] || echo "garbage" >>"$TMP/first/results.csv"; }
RANDOM=5
kill_one_rank "$TMP/warm.json" "$TMP/kill" 3 spoil_first
expect_exit 0 "$NS" run "$TMP/warm.json" --out "$TMP/kill"
python3 - "$TMP" <<'PY'
import csv, json, sys
tmp = sys.argv[1]
def proposals(d):
    ev = [json.loads(l) for l in open(f"{tmp}/{d}/reports.jsonl")]
    return [(e["index"], e["trial"]) for e in ev if e.get("event") == "tpe_propose"]
assert proposals("kill") == proposals("ref") and len(proposals("ref")) == 14
prior = json.load(open(f"{tmp}/ref/warm_start.json"))
assert len(prior["prior"]) > 0 and prior["sources"][0]["dir"].endswith("/first")
sweep = json.load(open(f"{tmp}/ref/sweep.json"))
assert sweep["provenance"]["warm_start"][0]["observations"] == len(prior["prior"])
print(f"ok: {len(prior['prior'])} prior observations; proposals after kills as uninterrupted")
PY
# A grid reuses an earlier grid's finished trials.
cat >"$TMP/g1.json" <<'J'
{"name": "g1", "family": "quadratic", "grid": {"x": [0, 1, 2]}, "repeats": 2,
 "metric": "score", "mode": "max", "seed": 3}
J
expect_exit 0 "$NS" run "$TMP/g1.json" --out "$TMP/g1"
cat >"$TMP/g2.json" <<J
{"name": "g2", "family": "quadratic", "grid": {"x": [0, 1, 2, 3]}, "repeats": 2,
 "warm_start": ["$TMP/g1"], "metric": "score", "mode": "max", "seed": 3}
J
expect_exit 0 "$NS" run "$TMP/g2.json" --out "$TMP/g2"
grep -q "warm start: 6 trial(s) an earlier sweep of the same inputs finished are reused" "$TMP/err" ||
  { cat "$TMP/err"; fail "grid: no reuse"; }
[ "$(csv_count "$TMP/g2/results.csv")" -eq 8 ] || fail "grid: not 8 rows"
[ "$(grep -c "reused from $TMP/g1 (warm start)" "$TMP/g2/results.csv")" -eq 6 ] || fail "grid: reused rows not marked"
# Not a sweep: exit 2, nothing written.
sed "s|\"$TMP/first\"|\"$TMP/nowhere\"|" "$TMP/warm.json" >"$TMP/bad.json"
expect_exit 2 "$NS" run "$TMP/bad.json" --out "$TMP/bad"
grep -q "\$.warm_start: $TMP/nowhere: not a sweep's output directory" "$TMP/err" || { cat "$TMP/err"; fail "bad dir message"; }
[ ! -e "$TMP/bad/results.csv" ] || fail "bad dir: wrote results"
echo "ok: grid reuse and a bad directory"
