#!/usr/bin/env bash
# PBT (engine/pbt.hpp) end to end: a maskcnn population of 6 on simulated V1 data on one rank
# (members take turns; exploits happen), the report's PBT section, and every member's lineage
# replayed as a fixed-schedule trial (report --replay-trial) reproducing its row's metrics on
# CPU to 1e-6; SIGKILLs of a 2-worker MPI run at random moments and resumes: each segment
# reported once, no decision twice, snapshots cleaned up, and the winner's replay still
# reproduces it; a convnet population on Fashion-MNIST (lr, weight decay, dropout mutable)
# replayed the same way; bad PBT blocks are exit 2 with nothing written.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
cat >"$TMP/spec.json" <<'J'
{"name": "pbt_v1", "family": "maskcnn",
 "data": {"kind": "simulated", "seed": 0, "images": 400, "size": 16, "neurons": 8, "repeats": 4},
 "fixed": {"layers": 1, "channels": 4, "batch_size": 32},
 "training": {"phases": 1, "max_iters_per_phase": 200, "eval_every": 20, "patience": 100},
 "random": {"count": 6, "params": {
   "lr": {"dist": "log_uniform", "low": 0.0003, "high": 0.03},
   "smoothness": {"dist": "log_uniform", "low": 1e-06, "high": 0.01}}},
 "search": {"kind": "pbt", "interval": 40, "max": 200, "mutable": ["lr", "smoothness"],
            "quantile": 0.5},
 "seed": 3, "metric": "val_ccnorm", "mode": "max"}
J
expect_exit 0 "$NS" plan "$TMP/spec.json"
grep -q "^search: PBT" "$TMP/out" || { cat "$TMP/out"; fail "plan: no PBT line"; }
expect_exit 0 "$NS" run "$TMP/spec.json" --out "$TMP/ref" --threads 1
expect_exit 0 "$NS" report "$TMP/ref"
grep -q "^PBT: population 6" "$TMP/out" || { cat "$TMP/out"; fail "report: no PBT section"; }
grep -q "winning schedule: member" "$TMP/out" || { cat "$TMP/out"; fail "report: no schedule"; }
expect_exit 0 "$NS" report "$TMP/ref" --html "$TMP/ref.html"
# The page's PBT data (6 members, exploits, the winning schedule) and the page as Chromium draws
# it (scripts/setup.sh installs chromium): the population chart is plotted (one trace per member
# + the exploits) and the schedule table has a row per segment.
command -v chromium >/dev/null || fail "chromium is missing (scripts/setup.sh installs it)"
timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$TMP/chromium" --virtual-time-budget=5000 --dump-dom "file://$TMP/ref.html" \
  >"$TMP/ref.dom" 2>/dev/null || fail "chromium could not render the report"
$PY - "$TMP/ref.dom" "$TMP/ref.html" <<'PY'
import json, re, sys
dom = open(sys.argv[1]).read()
page = open(sys.argv[2]).read()
d = json.loads(re.search(r'<script type="application/json" id="ns-data">(.*?)</script>', page, re.S).group(1))["pbt"]
assert len(d["members"]) == 6 and d["exploits"] and d["schedule"], d.keys()
assert all(len(m["x"]) == len(m["y"]) > 0 for m in d["members"])
assert d["schedule"][0]["from"] == 0 and set(d["schedule"][0]["params"]) == {"lr", "smoothness"}
pop = dom[dom.index('id="pbt-population"'):dom.index('id="pbt-schedule"')]
assert 'class="plot-container plotly"' in pop, "the PBT population chart was not drawn"
traces = pop.count('class="trace scatter')
assert traces == len(d["members"]) + 1, (traces, len(d["members"]))
table = dom[dom.index('id="pbt-schedule"'):]
table = table[:table.index("</table>")]
assert table.count("<tr>") == len(d["schedule"]) + 1, (table.count("<tr>"), len(d["schedule"]))
print(f"ok: the PBT chart drawn ({traces} traces), the schedule table {len(d['schedule'])} rows")
PY

# check_sweep OUT: 6 ok rows with finite metrics, each segment reported once, every exploit
# decided once per pause, no checkpoint left in pbt/ (only the finished segments' rows).
check_sweep() {
  $PY - "$1" <<'PY'
import csv, json, math, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv")))
assert len(rows) == 6 and len({r["trial_id"] for r in rows}) == 6, len(rows)
assert all(r["status"] == "ok" and math.isfinite(float(r["val_ccnorm"])) for r in rows)
ev = [json.loads(l) for l in open(f"{out}/reports.jsonl")]
res = [(e["trial"], e["snapshot"]) for e in ev if e.get("event") == "pbt_result"]
assert len(res) == len(set(res)), "a segment was reported twice"
dec = [(e["trial"], e["step"], e.get("snapshot")) for e in ev if e.get("event") in ("pbt_exploit", "pbt_continue")]
paused = [e for e in ev if e.get("event") == "pbt_result" and e["status"] == "paused"]
assert len(dec) == len(paused), (len(dec), len(paused))
assert sum(e.get("event") == "pbt_start" for e in ev) == 6
left = [os.path.join(d, f) for d, _, fs in os.walk(f"{out}/pbt") for f in fs]
assert all(f.endswith("result.json") for f in left), left
ex = sum(e.get("event") == "pbt_exploit" for e in ev)
print(f"{out}: 6 members ok, {len(res)} segments, {ex} exploits, {len(left)} final rows kept")
PY
}
check_sweep "$TMP/ref"

# replay OUT TRIAL: the member's lineage as one trial reproduces its row to 1e-6.
replay() {
  local out=$1 trial=$2
  expect_exit 0 "$NS" report "$out" --replay "$TMP/replay_$trial.json" --replay-trial "$trial"
  expect_exit 0 "$NS" run "$TMP/replay_$trial.json" --out "$TMP/replay_$trial" --threads 1
  $PY - "$out" "$TMP/replay_$trial" "$trial" "$TMP/replay_$trial.json" <<'PY'
import csv, json, math, sys
out, rep, trial, spec = sys.argv[1:]
a = {r["trial_id"]: r for r in csv.DictReader(open(f"{out}/results.csv"))}[trial]
b = list(csv.DictReader(open(f"{rep}/results.csv")))
assert len(b) == 1 and b[0]["status"] == "ok", b
b = b[0]
segs = json.load(open(spec))["search"]["segments"]
changed = sum("params" in s for s in segs)
worst = 0.0
for k in ("val_ccnorm", "val_loss", "val_pearson", "test_ccnorm", "test_pearson", "test_loss",
          "test_fev", "val_accuracy", "test_accuracy", "iterations", "epochs", "best_epoch"):
    if k in a:
        d = abs(float(a[k]) - float(b[k]))
        worst = max(worst, d)
        assert d <= 1e-6, (trial, k, a[k], b[k])
print(f"replay of {trial}: {len(segs)} segments, {changed} with new parameters, largest metric difference {worst:.3g}")
PY
  cat "$TMP/out" >/dev/null
}
ids=$(csv_col "$TMP/ref/results.csv" trial_id)
for t in $ids; do replay "$TMP/ref" "$t"; done
$PY - "$TMP/ref" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(f"{sys.argv[1]}/reports.jsonl")]
assert sum(e.get("event") == "pbt_exploit" for e in ev) >= 2, "too few exploits to test lineages"
PY

# Kills of a 2-worker run (population 6 > 2 workers) at random moments, then a resume. Rows
# come only when members end, so each kill waits for more segments in the journal instead.
$PY - "$TMP/spec.json" "$TMP/long.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["training"]["max_iters_per_phase"] = 600
s["search"]["max"] = 600
json.dump(s, open(sys.argv[2], "w"))
PY
segments() { cat "$TMP/kill/reports.jsonl" 2>/dev/null | grep -c '"pbt_result"' || true; }
RANDOM=17
hits=0
for i in 1 2 3; do
  setsid "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/long.json" --out "$TMP/kill" --threads 1 >/dev/null 2>&1 &
  pid=$!
  before=$(segments)
  wait_until 20 '[ "$(segments)" -gt $((before + 4)) ] || ! kill -0 "$pid" 2>/dev/null' || true
  sleep "0.$((RANDOM % 4))"
  kill -0 "$pid" 2>/dev/null && hits=$((hits + 1))
  kill -KILL -- -"$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pkill -KILL -f -- "--out $TMP/kill" 2>/dev/null || true
  echo "kill point $i: $(segments) segments reported so far"
done
[ "$hits" -ge 2 ] || fail "only $hits of 3 kills hit a running sweep"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/long.json" --out "$TMP/kill" --threads 1
check_sweep "$TMP/kill"
best=$($PY -c "import json; print(json.load(open('$TMP/kill/best.json'))['trial_id'])")
replay "$TMP/kill" "$best"

# Fashion-MNIST: a convnet population; lr, weight decay and dropout change while it trains.
cat >"$TMP/fashion.json" <<J
{"name": "pbt_fashion", "family": "convnet",
 "data": {"kind": "idx", "dir": "/usr/share/datasets/fashion-mnist", "limit": 600, "test_limit": 200},
 "fixed": {"blocks": 1, "filters": 4, "dense_units": 16},
 "training": {"optimizer": "adam", "batch_size": 64, "max_epochs": 4, "patience": 4, "val_split": 0.2},
 "random": {"count": 4, "params": {
   "lr": {"dist": "log_uniform", "low": 0.0003, "high": 0.03},
   "weight_decay": {"dist": "log_uniform", "low": 1e-06, "high": 0.01},
   "dropout": {"dist": "uniform", "low": 0.0, "high": 0.5}}},
 "search": {"kind": "pbt", "interval": 1, "max": 4, "mutable": ["lr", "weight_decay", "dropout"],
            "quantile": 0.5},
 "seed": 1, "metric": "val_accuracy", "mode": "max"}
J
expect_exit 0 "$NS" run "$TMP/fashion.json" --out "$TMP/fashion" --threads 1
ids=$(csv_col "$TMP/fashion/results.csv" trial_id)
for t in $ids; do replay "$TMP/fashion" "$t"; done

# Bad PBT blocks: exit 2, a message naming the field, nothing written.
bad_spec "$TMP/spec.json" structural 's["search"]["mutable"] = ["channels"]; s["random"]["params"]["channels"] = {"dist": "choice", "values": [4, 8]}; del s["fixed"]["channels"]' "\$.search.mutable[0]: 'channels' cannot change while a trial trains"
bad_spec "$TMP/spec.json" not_random 's["search"]["mutable"] = ["lr", "readout_scale"]' "'readout_scale' is not in \$.random.params"
bad_spec "$TMP/spec.json" population 's["search"]["population"] = 8' "\$.search.population: 8 differs from \$.random.count (6)"
bad_spec "$TMP/spec.json" with_asha 's["scheduler"] = {"kind": "asha", "resource": "iterations", "min": 40, "max": 200}' "\$.scheduler: cannot be combined with PBT"
bad_spec "$TMP/spec.json" no_interval 'del s["search"]["interval"]' "\$.search.interval: required key is missing"
expect_exit 2 "$NS" report "$TMP/fashion" --replay-trial nope --replay "$TMP/nope.json"
grep -q "not a member of this PBT sweep" "$TMP/err" || { cat "$TMP/err"; fail "replay-trial nope"; }
[ ! -e "$TMP/nope.json" ] || fail "a refused replay wrote its file"
echo "ok: PBT"
