#!/usr/bin/env bash
# A family that writes nothing for a trial gets no trial directory (issue 27: a 10^5-trial
# quadratic sweep left 10^5 directories and 2x10^5 files). The quadratic family creates one only
# for what it reads back: the attempt count of a trial with fail_first_n, which a retry reads.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/plain.json" <<JSON
{"family": "quadratic", "grid": {"x": [0.0, 1.0, 2.0, 3.0], "y": [0.0, -1.0, -2.0]},
 "metric": "score", "mode": "max", "out": "$TMP/plain"}
JSON
expect_exit 0 "$NS" run "$TMP/plain.json"
[ "$(tail -n +2 "$TMP/plain/results.csv" | grep -c ',ok,')" -eq 12 ] || fail "plain: expected 12 ok rows"
[ ! -e "$TMP/plain/trials" ] || { ls -R "$TMP/plain/trials" | head; fail "plain: trial directories were created"; }
# Each trial fails its first attempt and succeeds on the retry: the count lives in its directory.
cat >"$TMP/retry.json" <<JSON
{"family": "quadratic", "grid": {"x": [0.0, 1.0, 2.0]}, "training": {"fail_first_n": 1},
 "retries": 1, "metric": "score", "mode": "max", "out": "$TMP/retry"}
JSON
expect_exit 0 "$NS" run "$TMP/retry.json"
python3 - "$TMP/retry" <<'PY'
import csv, os, sys
out = sys.argv[1]
rows = list(csv.DictReader(open(f"{out}/results.csv", newline="")))
assert len(rows) == 3 and all(r["status"] == "ok" and r["attempt"] == "2" for r in rows), rows
for r in rows:
    d = f"{out}/trials/{r['trial_id']}"
    assert sorted(os.listdir(d)) == ["attempts"], (d, os.listdir(d))
    assert open(f"{d}/attempts").read().strip() == "2", d
print("ok: no directories for trials that write nothing; the retried trials kept their attempt count")
PY
echo "PASS trial_dirs"
