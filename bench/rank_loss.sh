#!/usr/bin/env bash
# Issue 30: what happens to an MPI job when one worker rank is lost mid-sweep, with the heartbeat
# (`run --rank-timeout 4`) and without it (`--rank-timeout 0`). Four cases, each a fresh sweep of
# 12 quadratic trials of 1.5 s on 3 ranks (mpirun, one machine):
#   kill: rank 2 gets SIGKILL (the OOM killer, a node that dies);
#   stop: rank 2 gets SIGSTOP (a hung node or process, which MPI does not notice).
# Prints, per case: how the job ended (mpirun's status, or "still running" when it had not
# ended 60 s after the loss; it is then killed), seconds from the loss to the end, rows written,
# and whether rank 0 took the rank out. Then what the heartbeat costs when nothing goes wrong: 3000
# zero-cost quadratic trials on 3 ranks with `--rank-timeout 0` and 600 (the default), alternated,
# two runs each, wall seconds of the whole mpirun.
# Run: NS_BINARY=build/app/neurosweep bash bench/rank_loss.sh
set -euo pipefail
NS=${NS_BINARY:?set NS_BINARY to the neurosweep binary}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
TMP=$(mktemp -d /tmp/ns_rank_loss.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
printf '%-5s %-10s %-22s %8s %6s  %s\n' signal heartbeat "job end" "after_s" rows "taken out"
for sig in KILL STOP; do
  for timeout in 4 0; do
    out=$TMP/$sig$timeout
    cat >"$out.json" <<J
{"family": "quadratic", "grid": {"x": [0, 1, 2, 3, 4, 5], "y": [-2, -1]},
 "training": {"sleep_s": 1.5}, "metric": "score", "mode": "max", "out": "$out"}
J
    "${MPIRUN[@]}" -np 3 "$NS" run "$out.json" --rank-timeout "$timeout" >"$out.log" 2>&1 &
    job=$!
    rank2=""
    for _ in $(seq 400); do  # rank 2, once it runs a trial (after the first row)
      for p in $(pgrep -P "$job" 2>/dev/null || true); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=2 && rank2=$p
      done
      [ -n "$rank2" ] && [ -f "$out/results.csv" ] && [ "$(tail -n +2 "$out/results.csv" | wc -l)" -ge 1 ] && break
      sleep 0.05
    done
    kill -"$sig" "$rank2"
    t0=$EPOCHREALTIME
    ended="still running"
    for _ in $(seq 600); do
      if ! kill -0 "$job" 2>/dev/null; then
        set +e; wait "$job"; ended="mpirun status $?"; set -e
        break
      fi
      sleep 0.1
    done
    after=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    if [ "$ended" = "still running" ]; then
      kill -CONT "$rank2" 2>/dev/null || true
      kill -KILL "$job" 2>/dev/null || true
      pkill -KILL -f -- "$out.json" 2>/dev/null || true
      wait "$job" 2>/dev/null || true
    fi
    rows=$( [ -f "$out/results.csv" ] && tail -n +2 "$out/results.csv" | wc -l || echo 0)
    out_note=$(grep -c "sent nothing for" "$out.log" || true)
    printf '%-5s %-10s %-22s %8s %6s  %s\n' "$sig" "$([ "$timeout" = 0 ] && echo off || echo "${timeout} s")" \
      "$ended" "$after" "$rows/12" "$([ "$out_note" -gt 0 ] && echo yes || echo no)"
  done
done

printf '\n%-14s %s\n' "rank-timeout" "wall s, 3000 zero-cost trials on 3 ranks"
python3 - "$TMP" <<'PY'
import json, sys
json.dump({"family": "quadratic", "grid": {"x": [i / 60 for i in range(60)], "y": [j / 50 for j in range(50)]},
           "metric": "score", "mode": "max"}, open(f"{sys.argv[1]}/zero.json", "w"))
PY
declare -A walls
for run in 1 2; do
  for timeout in 0 600; do
    rm -rf "$TMP/zero"
    t0=$EPOCHREALTIME
    "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/zero.json" --out "$TMP/zero" --rank-timeout "$timeout" >/dev/null 2>&1
    walls[$timeout]+=" $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')"
    [ "$(tail -n +2 "$TMP/zero/results.csv" | wc -l)" = 3000 ] || { echo "rank_loss: the 3000-trial sweep did not complete" >&2; exit 1; }
  done
done
for timeout in 0 600; do printf '%-14s%s\n' "$timeout" "${walls[$timeout]}"; done
