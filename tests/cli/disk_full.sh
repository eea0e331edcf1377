#!/usr/bin/env bash
# A full output disk (a small tmpfs) is not a trial failure. The sweep drains, exits 5 ("cannot
# write the output directory"), names the file and the errno, leaves no torn line in
# results.csv and no row for what it could not write; after space is freed, rerunning the same
# command completes every trial ok.
#   A. the command family: each trial writes a 200 KB file into its directory until the disk is
#      full (the worker's side: the program fails, a probe write in the trial directory fails).
#   B. the quadratic family on one rank with the disk already full but for a few pages: rows
#      fill results.csv's last page (rank 0's side: a short append, cut back).
# Needs to mount a tmpfs (root or CAP_SYS_ADMIN); skipped (77) where it cannot.
source "$(dirname "$0")/lib.sh"
MNT=$TMP/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=3m tmpfs "$MNT" 2>"$TMP/mount_err"; then
  echo "SKIP: cannot mount a tmpfs at $MNT: $(cat "$TMP/mount_err") (needs root or CAP_SYS_ADMIN)"
  exit 77
fi
cleanup() {
  umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

# check_rows CSV: every line of results.csv has the header's columns, and no row is a write
# failure recorded as a trial's.
check_rows() {
  python3 - "$1" <<'PY'
import csv, sys
text = open(sys.argv[1], newline="").read()
assert text.endswith("\n"), f"results.csv ends in a torn line: {text[-60:]!r}"
rows = list(csv.reader(text.splitlines(keepends=True)))
header, body = rows[0], rows[1:]
bad = [r for r in body if len(r) != len(header)]
assert not bad, f"torn rows: {bad[:3]}"
err = header.index("error")
disk = [r for r in body if any(w in r[err] for w in ("No space", "write", "disk"))]
assert not disk, f"rows that are write failures: {disk[:3]}"
print(f"ok: {len(body)} whole rows of {len(header)} columns, none a write failure")
PY
}
# check_complete OUT N: N rows, all ok, one per trial, state complete.
check_complete() {
  python3 - "$1" "$2" <<'PY'
import csv, json, sys
out, n = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(f"{out}/results.csv", newline="")))
ids = [r["trial_id"] for r in rows]
assert len(rows) == n and len(set(ids)) == n, (len(rows), len(set(ids)))
assert all(r["status"] == "ok" for r in rows), [r for r in rows if r["status"] != "ok"][:3]
state = json.load(open(f"{out}/state.json"))
assert state["state"] == "complete" and "output_error" not in state, state
print(f"ok: {n} rows, all ok; state.json complete")
PY
}
# expect_full: the run exited 5 and said which file and why.
expect_full() {
  grep -q "cannot write the output directory: .*No space left on device" "$TMP/err" ||
    { cat "$TMP/err"; fail "no message naming the file and 'No space left on device'"; }
  [ -f "$1/state.json" ] || fail "no state.json in $1"
  python3 - "$1/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
# On a full disk there is no room for state.json's temporary: the run rewrites the file in the
# block it already holds, so it tells why the sweep stopped.
assert s["state"] == "interrupted" and "No space" in s["output_error"], s
print("ok: state.json:", s["state"], s.get("reason", ""))
PY
}

# A. The command family, two workers; 24 trials of 200 KB do not fit in 3 MB.
cat >"$TMP/train.sh" <<'SH'
#!/bin/sh
head -c "$1" /dev/zero >blob || exit 1
echo "{\"final\": {\"score\": $2}}"
SH
cat >"$TMP/a.json" <<JSON
{"family": "command",
 "command": {"argv": ["/bin/sh", "$TMP/train.sh", "{size}", "{x}"],
             "params": {"size": 200000, "x": 0}, "metrics": ["score"]},
 "grid": {"x": [$(seq -s, 0 23)]}, "metric": "score", "mode": "max", "out": "$MNT/a"}
JSON
expect_exit 5 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/a.json"
expect_full "$MNT/a"
check_rows "$MNT/a/results.csv"
echo "A: $(($(wc -l <"$MNT/a/results.csv") - 1)) rows before the disk was full"
mount -o remount,size=64m "$MNT"
expect_exit 0 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/a.json"
check_complete "$MNT/a" 24
rm -rf "$MNT/a"

# B. Quadratic on one rank: the disk full but for 24 pages, which the sweep's files and best.json
#    (written once: the first trial, x = 1, is the best) take, then results.csv (3000 rows
#    need far more than 24 pages; the trials write no files of their own); a row then crosses
#    into a page the disk does not have.
mount -o remount,size=1m "$MNT"
head -c 2M /dev/zero >"$MNT/filler" 2>/dev/null || true
truncate -s -96K "$MNT/filler"
cat >"$TMP/b.json" <<JSON
{"family": "quadratic", "grid": {"x": [$(seq -s, 1 3000)]},
 "metric": "score", "mode": "max", "out": "$MNT/b"}
JSON
expect_exit 5 "$NS" run "$TMP/b.json"
expect_full "$MNT/b"
grep -q "results.csv: cannot append .* bytes: No space left on device" "$TMP/err" ||
  { cat "$TMP/err"; fail "B: the full disk was not met by a row of results.csv"; }
check_rows "$MNT/b/results.csv"
echo "B: $(($(wc -l <"$MNT/b/results.csv") - 1)) rows before the disk was full"
rm -f "$MNT/filler"
mount -o remount,size=64m "$MNT"
expect_exit 0 "$NS" run "$TMP/b.json"
check_complete "$MNT/b" 3000
echo "PASS disk_full"
