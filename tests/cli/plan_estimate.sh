#!/usr/bin/env bash
# plan's cost estimate: from a calibration run, from a results file (this sweep's or another's),
# walltime chunks per allocation, the limit warnings, and bad options (exit 2, one line).
source "$(dirname "$0")/lib.sh"
one_line() { [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "expected one line of error"; }; }
jq_py() { python3 -c "import json,sys; j=json.load(open('$TMP/out')); print($1)"; }

cat >"$TMP/q.json" <<J
{"family": "quadratic", "name": "q", "grid": {"sleep_s": [0.05, 0.1, 0.2, 0.4], "x": [0, 1, 2]},
 "metric": "score", "mode": "max", "out": "$TMP/qout"}
J
# 1. Calibration: 3 trials spread over the cost range, in a scratch directory that goes away.
before=$(find /tmp -maxdepth 1 -name 'neurosweep-calibrate-*' | wc -l)
expect_exit 0 "$NS" plan "$TMP/q.json" --calibrate 3 --json
[ "$(grep -c '^calibration' "$TMP/err")" -eq 3 ] || fail "expected 3 calibration lines: $(cat "$TMP/err")"
[ "$(jq_py "j['trials'], j['estimate']['samples']")" = "12 3" ] || fail "$(cat "$TMP/out")"
# True training time: 3 x (0.05 + 0.1 + 0.2 + 0.4) = 2.25 s; the estimate scales 3 of them.
jq_py "1.8 <= j['estimate']['total_s'] <= 3.5" | grep -q True || fail "estimate off: $(jq_py "j['estimate']")"
[ ! -e "$TMP/qout" ] || fail "calibration wrote into the sweep's output directory"
after=$(find /tmp -maxdepth 1 -name 'neurosweep-calibrate-*' | wc -l)
[ "$after" -eq "$before" ] || fail "calibration left its scratch directory behind"
# A parameter changed for calibration only; the cost model scales it back (sleep 0.05 for all:
# cost 0.06 each, so 0.06 s per trial -> about 1 s per unit of cost, as before).
expect_exit 0 "$NS" plan "$TMP/q.json" --calibrate 2 --calibrate-set sleep_s=0.05 --json --save-timings "$TMP/cal.csv"
jq_py "1.5 <= j['estimate']['total_s'] <= 4.5" | grep -q True || fail "scaled estimate off: $(jq_py "j['estimate']")"
total=$(jq_py "round(j['estimate']['total_s'], 6)")
# The saved times (with the costs they were measured at) give the same estimate later.
[ "$(head -1 "$TMP/cal.csv" | cut -d, -f1-4)" = "trial_id,status,wall_s,cost" ] || fail "$(cat "$TMP/cal.csv")"
[ "$(wc -l <"$TMP/cal.csv")" -eq 3 ] || fail "$(cat "$TMP/cal.csv")"
expect_exit 0 "$NS" plan "$TMP/q.json" --timings "$TMP/cal.csv" --json
[ "$(jq_py "round(j['estimate']['total_s'], 6)")" = "$total" ] || fail "saved timings give another estimate"

# 2. Walltime chunks and warnings (text output). Jobs of 1 minute with 59.5 s lost at the end
#    leave 0.5 s per job: 2.25 s of trials over 2 workers needs several jobs.
expect_exit 0 "$NS" plan "$TMP/q.json" --calibrate 4 --workers 2 --time 1m --margin 59.5 --max-jobs 2 --queue-max-time 30s --list 0
grep -q "12 trial(s) to run" "$TMP/out" || fail "$(cat "$TMP/out")"
jobs=$(awk '$1 == 2 && NF >= 5 {print $NF}' "$TMP/out")
[ -n "$jobs" ] && [ "$jobs" -ge 3 ] || fail "expected >= 3 jobs for 2 workers: $(cat "$TMP/out")"
grep -q "warning (2 workers): needs $jobs jobs of 1 m 00 s, more than the limit of 2" "$TMP/out" || fail "$(cat "$TMP/out")"
grep -q "exceeds the queue's limit of 30.0 s" "$TMP/out" || fail "$(cat "$TMP/out")"

# 3. The sweep's own results: after a run, plan says nothing is left; a grown spec is estimated
#    from the finished rows without --calibrate.
"${MPIRUN[@]}" -np 3 "$NS" run "$TMP/q.json" 2>/dev/null
expect_exit 0 "$NS" plan "$TMP/q.json"
grep -q "12 already done" "$TMP/out" && grep -q "nothing left to run" "$TMP/out" || fail "$(cat "$TMP/out")"
sed 's/"sleep_s": \[0.05, 0.1, 0.2, 0.4\]/"sleep_s": [0.05, 0.1, 0.2, 0.4, 0.8]/' "$TMP/q.json" >"$TMP/q5.json"
expect_exit 0 "$NS" plan "$TMP/q5.json" --json
[ "$(jq_py "j['done'], j['pending'], j['estimate']['samples']")" = "12 3 12" ] || fail "$(cat "$TMP/out")"
# 3 new trials of 0.8 s: predicted from 1 s per unit of cost (0.81 each) on an idle machine. The
# bounds scale with how much longer than its sleep (+ 0.01) each finished trial took here, as
# on a loaded machine every wall time is longer.
rate=$(python3 -c "import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(sum(float(x['wall_s']) for x in r) / sum(float(x['sleep_s']) + 0.01 for x in r))" "$TMP/qout/results.csv")
jq_py "2.0 * max(1, $rate) <= j['estimate']['total_s'] <= 3.5 * max(1, $rate)" | grep -q True || fail "rate $rate: $(jq_py "j['estimate']")"
# Another sweep's results: matched by parameter columns.
sed "s#$TMP/qout#$TMP/other#" "$TMP/q5.json" >"$TMP/other.json"
expect_exit 0 "$NS" plan "$TMP/other.json" --timings "$TMP/qout/results.csv" --json
[ "$(jq_py "j['pending'], j['estimate']['samples']")" = "15 12" ] || fail "$(cat "$TMP/out")"
jq_py "4.0 * max(1, $rate) <= j['estimate']['total_s'] <= 6.5 * max(1, $rate)" | grep -q True || fail "rate $rate: $(jq_py "j['estimate']")"

# 4. The RIS grid (2880 trials): count, model checks, estimate and allocation advice, from a
#    results file with two measured trials.
if [ -d /usr/share/datasets/fashion-mnist ]; then
  printf 'trial_id,status,wall_s,filters,dense_units,batch_size\nx1,ok,120,16,64,32\nx2,ok,600,64,128,32\n' >"$TMP/ris.csv"
  expect_exit 0 "$NS" plan "$SRC/examples/lab/ris_digits.json" --timings "$TMP/ris.csv" --time 4h --workers 8,32 --list 0
  grep -q "sweep 'ris_digits' (family convnet): 2880 trials" "$TMP/out" || fail "$(cat "$TMP/out")"
  grep -q "built once on CPU" "$TMP/out" || fail "$(cat "$TMP/out")"
  grep -q "estimate from 2 finished trial(s) in $TMP/ris.csv" "$TMP/out" || fail "$(cat "$TMP/out")"
  grep -q "2880 trial(s) to run" "$TMP/out" || fail "$(cat "$TMP/out")"
  grep -Eq "^ +8 .* [0-9]+( \*)?$" "$TMP/out" && grep -Eq "^ +32 .* [0-9]+( \*)?$" "$TMP/out" || fail "$(cat "$TMP/out")"
  # The same allocation as launch counts it: 4 nodes x 4 GPUs = 16 training ranks.
  expect_exit 0 "$NS" plan "$SRC/examples/lab/ris_digits.json" --timings "$TMP/ris.csv" --time 4h --nodes 4 --gpus-per-node 4 --list 0
  grep -Eq "^ +16 .* [0-9]+( \*)?$" "$TMP/out" || fail "$(cat "$TMP/out")"
else
  echo "plan_estimate: SKIPPED section 4 (the RIS grid): /usr/share/datasets/fashion-mnist is" \
       "missing, and plan checks the convnet family against that data (install the Debian package" \
       "dataset-fashion-mnist, as scripts/setup.sh does)" >&2
fi

# 6. Early stopping: plan runs the scheduler itself on the cost model. Synchronous successive
#    halving of 9 configurations, rungs 1, 3, 9 steps, 9 s per full trial (1 s a step): 9 visits
#    of 1 s, 3 of 2 s, 1 of 6 s = 21 s of training; on 3 workers 3 + 2 + 6 = 11 s of wall time.
cat >"$TMP/sha.json" <<J
{"family": "quadratic", "name": "s", "grid": {"x": [0, 1, 2, 3, 4, 5, 6, 7, 8]},
 "scheduler": {"kind": "asha", "resource": "steps", "min": 1, "max": 9, "eta": 3, "synchronous": true},
 "metric": "score", "mode": "max", "out": "$TMP/sout"}
J
python3 -c "
print('trial_id,status,wall_s,x')
for i in range(9): print(f'z{i},ok,9,{i}')" >"$TMP/sha.csv"
expect_exit 0 "$NS" plan "$TMP/sha.json" --timings "$TMP/sha.csv" --workers 1,3 --json
[ "$(jq_py "[(o['workers'], o['early_stopping']['trial_s'], o['early_stopping']['makespan_s'], o['early_stopping']['visits']) for o in j['allocation']['options']]")" = \
  "[(1, 21.0, 21.0, 13.0), (3, 21.0, 11.0, 13.0)]" ] || fail "$(cat "$TMP/out")"
expect_exit 0 "$NS" plan "$TMP/sha.json" --timings "$TMP/sha.csv" --workers 3 --list 0
grep -Eq "^ +3 +27.0 s +27.0 s +1 +11.0 s +21.0 s$" "$TMP/out" || fail "$(cat "$TMP/out")"
grep -q "with early stopping: about 21.0 s of training (25.9 % of the full grid's 1 m 21 s; 13 rung visits) on 3 worker(s)" "$TMP/out" || fail "$(cat "$TMP/out")"

# 5. Bad options: exit 2, one line, nothing written.
expect_exit 2 "$NS" plan "$TMP/q.json" --time soon; one_line
grep -q -- "--time 'soon' is not a duration" "$TMP/err" || fail "$(cat "$TMP/err")"
expect_exit 2 "$NS" plan "$TMP/q.json" --calibrate 1 --calibrate-set nosuch=1; one_line
grep -q "'nosuch' is not a parameter of this sweep" "$TMP/err" || fail "$(cat "$TMP/err")"
expect_exit 2 "$NS" plan "$TMP/q.json" --save-timings "$TMP/x.csv"; one_line
grep -q "only with --calibrate" "$TMP/err" || fail "$(cat "$TMP/err")"
expect_exit 2 "$NS" plan "$TMP/q.json" --nodes 2; one_line
grep -q -- "--nodes 2: give --gpus-per-node or --ranks-per-node" "$TMP/err" || fail "$(cat "$TMP/err")"
expect_exit 2 "$NS" plan "$TMP/q.json" --timings "$TMP/none.csv"; one_line
grep -q "no such file" "$TMP/err" || fail "$(cat "$TMP/err")"
echo "a,b" >"$TMP/bad.csv"
expect_exit 2 "$NS" plan "$TMP/q.json" --timings "$TMP/bad.csv"; one_line
grep -q "bad.csv: no column 'trial_id'" "$TMP/err" || fail "$(cat "$TMP/err")"
echo "plan_estimate: ok"
