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
echo "ok: bad input exits 2 with one line and writes nothing"
