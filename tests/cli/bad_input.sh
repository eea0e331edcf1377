#!/usr/bin/env bash
# Bad command lines and bad specs: exit status 2, one line on stderr, nothing written, and an
# existing results file left byte-for-byte as it was.
source "$(dirname "$0")/lib.sh"
one_line() { [ "$(wc -l <"$TMP/err")" -eq 1 ] || { cat "$TMP/err"; fail "expected one line of error"; }; }

expect_exit 2 "$NS" run; one_line
grep -q "spec is required" "$TMP/err" || fail "missing spec message: $(cat "$TMP/err")"
expect_exit 2 "$NS" run /nonexistent.json; one_line
expect_exit 2 "$NS" frobnicate; one_line
expect_exit 2 "$NS" run "$SRC/examples/quadratic_grid.json" --schedule random; one_line

cat >"$TMP/bad.json" <<'J'
{"family": "quadratic", "grid": {"x": []}, "metric": "score", "mode": "max", "out": "OUT"}
J
sed -i "s#OUT#$TMP/out_bad#" "$TMP/bad.json"
expect_exit 2 "$NS" run "$TMP/bad.json"; one_line
grep -q 'bad.json: $.grid.x: expected a non-empty array of values, got \[\]' "$TMP/err" || fail "$(cat "$TMP/err")"
[ ! -e "$TMP/out_bad" ] || fail "a bad spec created its output directory"
expect_exit 2 "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/bad.json"
[ "$(grep -c 'expected a non-empty array' "$TMP/err")" -eq 1 ] || fail "error not reported once under mpirun: $(cat "$TMP/err")"

echo '{"family": "nosuch", "metric": "x", "mode": "max"}' >"$TMP/fam.json"
expect_exit 2 "$NS" plan "$TMP/fam.json"; one_line
grep -q "unknown model family 'nosuch'; known: " "$TMP/err" || fail "$(cat "$TMP/err")"
echo '{"family": "quadratic", ' >"$TMP/trunc.json"
expect_exit 2 "$NS" plan "$TMP/trunc.json"; one_line
grep -q "trunc.json: not valid JSON" "$TMP/err" || fail "$(cat "$TMP/err")"

# Output path that is a file.
touch "$TMP/afile"
expect_exit 2 "$NS" run "$SRC/examples/quadratic_grid.json" --out "$TMP/afile"; one_line
grep -q "is a file, not a directory" "$TMP/err" || fail "$(cat "$TMP/err")"

# An existing sweep: a changed seed is refused and results.csv is untouched.
"$NS" run "$SRC/examples/quadratic_grid.json" --out "$TMP/done" 2>/dev/null
sum=$(md5sum <"$TMP/done/results.csv")
sed 's/"mode": "max",/"mode": "max", "seed": 5,/' "$SRC/examples/quadratic_grid.json" >"$TMP/seed5.json"
expect_exit 2 "$NS" run "$TMP/seed5.json" --out "$TMP/done"; one_line
grep -q "cannot resume: it was run with seed 0, the spec now says 5" "$TMP/err" || fail "$(cat "$TMP/err")"
[ "$sum" = "$(md5sum <"$TMP/done/results.csv")" ] || fail "results.csv changed"
# --force-new moves the old files aside instead.
"$NS" run "$TMP/seed5.json" --out "$TMP/done" --force-new 2>/dev/null
ls "$TMP/done" | grep -q '^results.csv.old-' || fail "old results not kept"

# A changed spec on an existing sweep runs only its new trials.
sed 's/"k": \[0, 1, 2, 3, 4, 5, 6, 7\]/"k": [0, 1, 2, 3, 4, 5, 6, 7, 8]/' "$SRC/examples/quadratic_grid.json" >"$TMP/grown.json"
"$NS" run "$SRC/examples/quadratic_grid.json" --out "$TMP/grow" 2>/dev/null
"$NS" run "$TMP/grown.json" --out "$TMP/grow" 2>"$TMP/err"
grep -q "225 trials, 200 already done, 25 to run" "$TMP/err" || fail "changed spec: $(cat "$TMP/err")"
[ "$(tail -n +2 "$TMP/grow/results.csv" | wc -l)" -eq 225 ] || fail "expected 225 rows"

# One writer: a second run on a directory in use is refused (exit 4) naming host and pid.
cat >"$TMP/slow.json" <<'J'
{"family": "quadratic", "grid": {"x": [0.0, 1.0]}, "training": {"sleep_s": 20.0}, "metric": "score", "mode": "max"}
J
"$NS" run "$TMP/slow.json" --out "$TMP/busy" 2>/dev/null &
first=$!
for _ in $(seq 1 200); do grep -q running "$TMP/busy/state.json" 2>/dev/null && break; sleep 0.05; done
expect_exit 4 "$NS" run "$TMP/slow.json" --out "$TMP/busy"; one_line
grep -q "output directory $TMP/busy is in use by another run (host=.*,pid=$first)" "$TMP/err" || fail "lock: $(cat "$TMP/err")"
kill -TERM "$first"; wait "$first" || true

# Data errors come before any output: a missing HDF5 file leaves an existing sweep untouched.
if "$NS" families | grep -q '^maskcnn:'; then
  mkdir -p "$TMP/neural" && cp "$TMP/done/results.csv" "$TMP/neural/keep.csv"
  cat >"$TMP/h5.json" <<J
{"family": "maskcnn", "data": {"kind": "hdf5", "path": "$TMP/missing.h5"}, "metric": "val_ccnorm", "mode": "max", "out": "$TMP/neural"}
J
  expect_exit 2 "$NS" run "$TMP/h5.json"; one_line
  grep -q "missing.h5" "$TMP/err" || fail "hdf5: $(cat "$TMP/err")"
  [ "$(ls "$TMP/neural")" = "keep.csv" ] || fail "a data error wrote into the output directory"
fi
echo "ok: bad input exits 2 with one line and writes nothing"
