#!/usr/bin/env bash
# Writes this folder's fixtures (README.md): make_fixtures.sh OLD_BINARY NEW_BINARY WORKDIR
#   OLD_BINARY: neurosweep built at 9da2899; NEW_BINARY: the binary whose PBT resume is pinned
#   in expected/pbt_v1.resumed.*; WORKDIR: an empty scratch directory (the runs happen there).
# For each spec NAME.json: runs it uninterrupted (expected/NAME.*), then again with a SIGTERM
# (a drain, exit 3) a moment after reports.jsonl has EVENTS lines, and keeps that output directory as
# NAME/. The moment of the signal is timing: rerunning writes similar, not identical, fixtures.
set -euo pipefail
OLD=$(realpath "$1") NEW=$(realpath "$2") W=$3
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$W" "$HERE/expected"
cd "$W"
cp "$HERE"/{asha_v1,tpe_v1,pbt_v1}.json "$HERE/pbt_prog.py" .
gen() {  # gen NAME EVENTS DELAY: the signal DELAY seconds after the EVENTS-th line
  local name=$1 events=$2 delay=$3 pid n
  rm -rf "ref_$name" "$name"
  "$OLD" run --threads 1 --out "ref_$name" "$name.json" >/dev/null 2>"ref_$name.err"
  python3 "$HERE/compare.py" expect "ref_$name" "$HERE/expected/$name"
  "$OLD" run --threads 1 --out "$name" "$name.json" >/dev/null 2>"$name.err" &
  pid=$!
  local polls=0
  for _ in $(seq 1 3000); do
    polls=$((polls + 1))
    n=$( [ -f "$name/reports.jsonl" ] && wc -l <"$name/reports.jsonl" || echo 0)
    [ "$n" -ge "$events" ] && break
    sleep 0.01
  done
  echo "$name: $n journal lines after $polls polls, signal in $delay s"
  sleep "$delay"
  kill -TERM "$pid"
  local rc=0; wait "$pid" || rc=$?
  [ "$rc" -eq 3 ] || { cat "$name.err"; echo "$name: exit $rc after SIGTERM, expected 3"; exit 1; }
  grep -q '"interrupted": 1' "$name/state.json" || { cat "$name/state.json"; echo "$name: no trial was running at the signal"; exit 1; }
  rm -f "$name/.lock"
  rm -rf "${HERE:?}/$name"
  cp -r "$name" "$HERE/$name"
  echo "$name: $(wc -l <"$name/reports.jsonl") journal events, $(($(wc -l <"$name/results.csv") - 1)) rows at the signal"
}
gen asha_v1 79 0
gen tpe_v1 20 0.1
gen pbt_v1 30 0.12
# PBT's decisions after the fixture follow the ranking rule of 6613cb5 (a member keeps its last
# value across an exploit): pin NEW_BINARY's resume of the fixture.
rm -rf resumed_pbt_v1 && cp -r "$HERE/pbt_v1" resumed_pbt_v1
"$NEW" run --threads 1 --out resumed_pbt_v1 pbt_v1.json >/dev/null 2>resumed_pbt_v1.err
python3 "$HERE/compare.py" expect resumed_pbt_v1 "$HERE/expected/pbt_v1.resumed"
