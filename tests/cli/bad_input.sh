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
[ "$(csv_count "$TMP/grow/results.csv")" -eq 225 ] || fail "expected 225 rows"

# One writer: a second run on a directory in use is refused (exit 4) naming host and pid.
cat >"$TMP/slow.json" <<'J'
{"family": "quadratic", "grid": {"x": [0.0, 1.0]}, "training": {"sleep_s": 20.0}, "metric": "score", "mode": "max"}
J
"$NS" run "$TMP/slow.json" --out "$TMP/busy" 2>/dev/null &
first=$!
wait_until 30 'grep -q running "$TMP/busy/state.json" 2>/dev/null' || fail "the first run never started"
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

# Issue 26: each bad input below is exit 2 with one line naming the file, JSON path or flag, and
# leaves the finished sweep in $TMP/done as it was (every run points --out at it, or creates
# nothing). `timeout` turns a hang (a FIFO read) into a failure.
snapshot() { (cd "$TMP/done" && stat -c %y . && ls -lA --time-style=full-iso . && md5sum results.csv); }
snapshot >"$TMP/done.before"
untouched() {
  snapshot >"$TMP/done.after"
  cmp -s "$TMP/done.before" "$TMP/done.after" || { diff "$TMP/done.before" "$TMP/done.after" >&2; fail "$1: the existing output directory changed"; }
}
bad_run() {  # bad_run NAME EXPECTED ARGS...: `run ARGS` exits 2 with one line holding EXPECTED
  local name=$1 want=$2; shift 2
  expect_exit 2 timeout 60 "$NS" run "$@"; one_line
  grep -qF -- "$want" "$TMP/err" || fail "$name: expected '$want', got: $(cat "$TMP/err")"
  untouched "$name"
}
Q=$SRC/examples/quadratic_grid.json
# Spec text: 1e999, a key twice, a NUL in a parameter value, a FIFO as the spec.
sed 's/"x": \[/"x": [1e999, /' "$Q" >"$TMP/inf.json"
bad_run 1e999 "$TMP/inf.json: a number too large for a double" "$TMP/inf.json" --out "$TMP/done"
sed 's/"mode": "max",/"mode": "max", "mode": "min",/' "$Q" >"$TMP/dup.json"
bad_run duplicate "$TMP/dup.json: \$.mode: the key appears twice" "$TMP/dup.json" --out "$TMP/done"
sed 's/"family": "quadratic",/&  "fixed": {"shape": "bo\\u0000wl"},/' "$Q" >"$TMP/nul.json"
grep -qF '"bo\u0000wl"' "$TMP/nul.json" || fail "the spec with a NUL was not written"
bad_run nul "$TMP/nul.json: \$.fixed.shape: a string holds a NUL character" "$TMP/nul.json" --out "$TMP/done"
# A value nested 100000 deep (it crashed plan and run with SIGSEGV): refused at depth 64.
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); s["fixed"]={"deep": "@"}; print(json.dumps(s).replace("\"@\"", "["*100000 + "]"*100000))' "$Q" >"$TMP/deep.json"
bad_run deep "$TMP/deep.json: \$.fixed.deep[0][0]" "$TMP/deep.json" --out "$TMP/done"
grep -qF "nested deeper than 64 levels" "$TMP/err" || fail "deep: $(cat "$TMP/err")"
expect_exit 2 timeout 60 "$NS" plan "$TMP/deep.json"; one_line
grep -qF "nested deeper than 64 levels" "$TMP/err" || fail "deep plan: $(cat "$TMP/err")"
mkfifo "$TMP/fifo"
bad_run fifo_spec "$TMP/fifo: expected a regular file, got a pipe, socket or device" "$TMP/fifo" --out "$TMP/done"

# The output path: under a file, and (as an unprivileged user) under a read-only directory.
bad_run out_under_file "--out $TMP/afile/sub/x: $TMP/afile is not a directory" "$Q" --out "$TMP/afile/sub/x"
[ ! -s "$TMP/afile" ] || fail "the file on the --out path was written"
sed "s#\"out\": \"[^\"]*\"#\"out\": \"$TMP/afile/y\"#" "$Q" >"$TMP/spec_out.json"
bad_run spec_out_under_file "$TMP/spec_out.json: \$.out ($TMP/afile/y): $TMP/afile is not a directory" "$TMP/spec_out.json"
mkdir "$TMP/ro" && chmod 555 "$TMP/ro" && chmod 755 "$TMP" && cp "$Q" "$TMP/q.json" && chmod 644 "$TMP/q.json"
as_user=()
[ "$(id -u)" -ne 0 ] || as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if "${as_user[@]}" "$NS" families >/dev/null 2>&1; then
  expect_exit 2 "${as_user[@]}" "$NS" run "$TMP/q.json" --out "$TMP/ro/x"; one_line
  grep -qF -- "--out $TMP/ro/x: $TMP/ro is not writable" "$TMP/err" || fail "read-only: $(cat "$TMP/err")"
  [ -z "$(ls -A "$TMP/ro")" ] || fail "wrote into the read-only directory"
else
  echo "skip: cannot run $NS as an unprivileged user here (the read-only --out case)"
fi

# A name that leaves runs/: refused, and nothing is created from the working directory.
mkdir "$TMP/cwd"
python3 -c 'import json, sys; s = json.load(open(sys.argv[1])); del s["out"]; s["name"] = "../../x"
json.dump(s, open(sys.argv[2], "w"))' "$Q" "$TMP/escape.json"
ns_abs=$(realpath "$NS")
(cd "$TMP/cwd" && NS=$ns_abs && bad_run name "$TMP/escape.json: \$.name: expected a name of letters, digits, '.', '_', '-'" "$TMP/escape.json")
[ -z "$(ls -A "$TMP/cwd")" ] && [ ! -e "$TMP/x" ] || fail "a bad name wrote something"

# Families: a size above its maximum, a model LibTorch cannot allocate, FIFOs as data files.
if "$NS" families | grep -q '^maskcnn:'; then
  SIM=$SRC/examples/simulated_v1.json
  bad_spec "$SIM" channels 's["fixed"]["channels"] = 2000000000' \
    "maskcnn parameter 'channels': expected an integer in [1, 1024], got 2000000000"
  one_line; grep -q "bad_channels.json: trial [0-9a-f]\{16\} (#0): " "$TMP/err" || fail "$(cat "$TMP/err")"
  bad_spec "$SIM" weights 's["fixed"].update(channels=1024, layers=32, k_later=63)' \
    "parameters, more than the 268435456 allowed"
  one_line
  cat >"$TMP/fifo_h5.json" <<J
{"family": "maskcnn", "data": {"kind": "hdf5", "path": "$TMP/fifo"}, "metric": "val_ccnorm", "mode": "max"}
J
  bad_run fifo_h5 "$TMP/fifo_h5.json: \$.data.path: $TMP/fifo: expected a regular file, got a pipe, socket or device" \
    "$TMP/fifo_h5.json" --out "$TMP/done"
  cat >"$TMP/fifo_ts.json" <<J
{"family": "torchscript", "torchscript": {"task": "neural"},
 "data": {"kind": "simulated", "images": 100, "size": 16, "neurons": 4},
 "fixed": {"module": "$TMP/fifo", "batch_size": 16}, "metric": "val_ccnorm", "mode": "max"}
J
  bad_run fifo_module "parameter 'module': $TMP/fifo: expected a regular file, got a pipe, socket or device" \
    "$TMP/fifo_ts.json" --out "$TMP/done"
  if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    # A module that asks for 2^50 floats (more than any address space): a LibTorch error while
    # the family's check runs it is exit 2 naming the trial, not a backtrace and exit 1.
    cat >"$TMP/huge.py" <<'PY'
import sys, torch
class Huge(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
    def forward(self, x):
        return torch.zeros([1 << 24, 1 << 26]) * self.w
torch.jit.script(Huge()).save(sys.argv[1])
PY
    /usr/bin/python3 "$TMP/huge.py" "$TMP/huge.pt"  # torch.jit.script reads the class's source file
    sed "s#$TMP/fifo#$TMP/huge.pt#" "$TMP/fifo_ts.json" >"$TMP/huge.json"
    bad_run huge_module "$TMP/huge.json: trial " "$TMP/huge.json" --out "$TMP/done"
    grep -q "(#0): its model cannot be built: .*allocate" "$TMP/err" || fail "huge: $(cat "$TMP/err")"
  fi
fi
if "$NS" families | grep -q '^convnet:'; then
  mkdir "$TMP/idx" && mkfifo "$TMP/idx/train-images-idx3-ubyte"
  cat >"$TMP/fifo_idx.json" <<J
{"family": "convnet", "data": {"kind": "idx", "dir": "$TMP/idx"}, "metric": "val_accuracy", "mode": "max"}
J
  bad_run fifo_idx "$TMP/fifo_idx.json: \$.data.dir: $TMP/idx/train-images-idx3-ubyte: expected a regular file" \
    "$TMP/fifo_idx.json" --out "$TMP/done"
fi
echo "ok: bad input exits 2 with one line and writes nothing"
