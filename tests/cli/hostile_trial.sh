#!/usr/bin/env bash
# Hostile or broken trial output cannot crash the engine, and a trial owns no process after it
# ends (models/command/): a report line nested 100000 deep (it crashed the rank with SIGSEGV) is
# a logged, ignored line; a flood of output is capped in log.txt with the truncation stated; a
# grandchild that leaves the process group (setsid) is ended on a timeout, a drain and a normal
# exit, in a single process and under mpirun.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
# The marker: a sleep length no other process on the machine has, found with pgrep -f.
MARK="1000.$$$RANDOM"
strays() { pgrep -f -- "sleep $MARK" || true; }
cleanup_strays() { pkill -KILL -f -- "sleep $MARK" 2>/dev/null || true; }
trap 'cleanup_strays; rm -rf "$TMP"' EXIT
# No stray a while after the sweep: ending them is part of the trial, so none may be left when
# it returns; allow 1 s for a SIGKILLed process to disappear from /proc on a busy machine.
no_strays() {
  wait_until 1 '[ -z "$(strays)" ]' && return 0
  ps -o pid,ppid,sid,args -p "$(strays | paste -sd,)" >&2 || true
  cleanup_strays
  fail "$1: processes left running: sleep $MARK"
}

cat >"$TMP/prog.py" <<'PY'
import json, os, signal, subprocess, sys, time
mode, mark = sys.argv[1], sys.argv[2]
if mode == "deep":  # one report line 100000 deep, then a good final line
    print('{"step": 1, "metrics": {"score": ' + "[" * 100000 + "]" * 100000 + "}}", flush=True)
    print('{"final": {"score": 2}}', flush=True)
elif mode == "deeponly":  # only the deep line: no result
    print('{"final": {"score": ' + "[" * 100000 + "]" * 100000 + "}}", flush=True)
elif mode == "deepfile":  # the same in $NEUROSWEEP_REPORTS
    with open(os.environ["NEUROSWEEP_REPORTS"], "a") as f:
        f.write('{"step": 1, "metrics": {"score": ' + "{\"a\": " * 50000 + "1" + "}" * 50000 + "}}\n")
        f.write('{"final": {"score": 3}}\n')
elif mode == "flood":  # 4 MB of stdout in lines, 3 MB of stderr in one line, then a failure
    line = "x" * 999
    for _ in range(4000):
        print(line)
    print('{"final": {"score": 4}}', flush=True)
    sys.stderr.write("e" * 3000000)
    sys.stderr.flush()
    sys.exit(3)
elif mode in ("orphan_timeout", "orphan_drain", "orphan_exit"):
    # A grandchild in a session of its own: bash starts it with setsid in the background.
    subprocess.Popen(["bash", "-c", f"setsid sleep {mark} & setsid sleep {mark} & sleep 1000"])
    open("started", "w").write("1")
    if mode == "orphan_exit":
        time.sleep(0.5)  # the grandchildren have called setsid
        print('{"final": {"score": 5}}', flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(0.2)
PY
# spec FILE OUT MODES-JSON [EXTRA-TOP-LEVEL-JSON] [EXTRA-COMMAND-JSON]
spec() {
  cat >"$1" <<J
{"family": "command",
 "command": {"argv": ["$PY", "$TMP/prog.py", "{mode}", "$MARK"], "params": {"mode": "deep"},
             "metrics": ["score"]${5:-}},
 "grid": {"mode": $3}, "metric": "score", "mode": "max", "out": "$2"${4:-}}
J
}
complete() { grep -q '"state": "complete"' "$1/state.json" || fail "$1/state.json: $(cat "$1/state.json")"; }

# 1. Deep lines on stdout and in $NEUROSWEEP_REPORTS: logged and ignored, as any malformed line.
spec "$TMP/d.json" "$TMP/d" '["deep", "deeponly", "deepfile"]'
expect_exit 0 "$NS" run "$TMP/d.json"
complete "$TMP/d"
python3 - "$TMP/d" <<'PY'
import csv, sys
out = sys.argv[1]
rows = {r["mode"]: r for r in csv.DictReader(open(f"{out}/results.csv"))}
log = lambda r: open(f"{out}/trials/{r['trial_id']}/log.txt").read()
for mode, score in (("deep", "2"), ("deepfile", "3")):
    r = rows[mode]
    assert r["status"] == "ok" and r["score"] == score, r
    assert "a report line ignored (not JSON: " in log(r) and "nested deeper than 32 levels" in log(r), log(r)[:2000]
    assert len(log(r)) < 10000, f"the deep line was copied whole: {len(log(r))} bytes"
r = rows["deeponly"]
assert r["status"] == "failed" and "without a result" in r["error"], r
assert "(1 malformed report line(s) ignored; see log.txt)" in r["error"], r
print("ok: lines 100000 deep ignored with a warning; the good lines count")
PY

# 2. A flood of output: log.txt keeps 100000 bytes of each stream and says so, the row too.
spec "$TMP/f.json" "$TMP/f" '["flood"]' '' ', "log_max_bytes": 100000'
expect_exit 0 "$NS" run "$TMP/f.json"
complete "$TMP/f"
python3 - "$TMP/f" <<'PY'
import csv, os, sys
out = sys.argv[1]
r = next(csv.DictReader(open(f"{out}/results.csv")))
assert r["status"] == "failed" and "exited with code 3" in r["error"], r
assert "(log.txt truncated after 100000 bytes of stdout)" in r["error"], r["error"]
assert "(log.txt truncated after 100000 bytes of stderr)" in r["error"], r["error"]
path = f"{out}/trials/{r['trial_id']}/log.txt"
size = os.path.getsize(path)
assert 200000 <= size < 210000, size  # 100000 per stream and neurosweep's own lines
log = open(path).read()
for s in ("stdout", "stderr"):
    assert f"... [neurosweep: log truncated after 100000 bytes of {s}]" in log, log[-2000:]
assert "more bytes of stderr not logged (log_max_bytes 100000)" in log, log[-2000:]
print(f"ok: a 7 MB flood left a log of {size} bytes, truncation stated in the log and the row")
PY

# 3. Grandchildren that call setsid, on a timeout (the program ignores SIGTERM): none is left.
spec "$TMP/t.json" "$TMP/t" '["orphan_timeout"]' ', "trial_timeout_s": 2' ', "grace_s": 0.5'
expect_exit 0 "$NS" run "$TMP/t.json"
complete "$TMP/t"
[ "$(csv_col "$TMP/t/results.csv" status)" = timeout ] || fail "$(cat "$TMP/t/results.csv")"
grep -q "ended 2 process(es) the program left running outside its process group" "$TMP"/t/trials/*/log.txt ||
  fail "no stray ended: $(cat "$TMP"/t/trials/*/log.txt)"
no_strays timeout
echo "ok: timeout: the setsid grandchildren ended"

# 4. The same under mpirun (a worker rank with MPI's own processes around it).
rm -rf "$TMP/t"
expect_exit 0 "${MPIRUN[@]}" -np 2 "$NS" run "$TMP/t.json"
complete "$TMP/t"
no_strays "timeout under mpirun"
echo "ok: timeout under mpirun -np 2: the setsid grandchildren ended"

# 5. A normal exit: what the program left running ends with it.
spec "$TMP/n.json" "$TMP/n" '["orphan_exit"]'
expect_exit 0 "$NS" run "$TMP/n.json"
[ "$(csv_col "$TMP/n/results.csv" status)" = ok ] || fail "$(cat "$TMP/n/results.csv")"
no_strays "normal exit"
echo "ok: normal exit: the setsid grandchildren ended"

# 6. A drain (SIGTERM to neurosweep) while the program runs: exit 3, none left.
spec "$TMP/r.json" "$TMP/r" '["orphan_drain"]' '' ', "grace_s": 0.5'
"$NS" run "$TMP/r.json" >"$TMP/rlog" 2>&1 &
pid=$!
wait_until 15 '[ "$(strays | wc -l)" -ge 2 ]' || true
[ "$(strays | wc -l)" -ge 2 ] || { kill -KILL "$pid"; fail "drain: the grandchildren never started"; }
kill -TERM "$pid"
set +e; wait "$pid"; got=$?; set -e
[ "$got" -eq 3 ] || { cat "$TMP/rlog"; fail "drain: exit $got, expected 3"; }
grep -q '"state": "interrupted"' "$TMP/r/state.json" || fail "state.json not interrupted"
no_strays drain
echo "ok: drain: the setsid grandchildren ended"
echo "PASS hostile_trial"
