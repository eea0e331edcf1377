# Helpers shared by the Slurm end-to-end tests (slurm_e2e.sh, slurm_multinode.sh), sourced after
# they define `fail` and `work` (the scratch folder) and point SLURM_CONF at their cluster.

# scaled SECONDS: SECONDS x NS_TEST_TIME_SCALE (the one test time factor), as an integer.
scaled() { awk -v b="$1" -v k="${NS_TEST_TIME_SCALE:-1}" 'BEGIN { printf "%d", b * k }'; }

# Waits (at most $2 seconds, scaled) until the sweep in $1 wrote a final line to jobs.log and no
# job is left in the queue.
wait_sweep() {
  local out=$1 bound start
  bound=$(scaled "$2")
  start=$(date +%s)
  while :; do
    if [ -z "$(squeue -h -o %i)" ] && [ -f "$out/jobs.log" ] &&
       tail -n 1 "$out/jobs.log" | grep -Eq 'sweep complete|failed|stopping|not resubmitting'; then
      return 0
    fi
    [ $(( $(date +%s) - start )) -lt "$bound" ] || fail "sweep in $out not done after ${bound}s"
    sleep 1
  done
}

# spec NAME SLEEP_S NX NY: a quadratic grid of NX x NY trials that sleep SLEEP_S each, written to
# stdout, its output in $work/NAME.
spec() {
  python3 - "$work" "$@" <<'PY'
import json, sys
work, name, sleep, nx, ny = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(json.dumps({"name": name, "family": "quadratic", "training": {"sleep_s": sleep},
                  "grid": {"x": [round(-1 + 0.1 * i, 3) for i in range(nx)],
                           "y": [round(0.1 * j, 3) for j in range(ny)]},
                  "metric": "score", "mode": "max", "out": f"{work}/{name}"}, indent=1))
PY
}
