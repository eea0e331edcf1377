#!/usr/bin/env bash
# Search quality at an equal budget of training resource: neurosweep against Optuna and Ray Tune
# on one objective (bench/peers/quality_objective.py; bench/peers/quality.md, issue 25 item 2).
#
#   bash bench/peers/quality.sh [--seeds N=5] [--first K=0] [--quick] [--arms "ARM ..."] [--out DIR]
#
# Arms (each sweep seed 0..N-1; 2 workers everywhere; budget 30 full trials = 30 x 27 = 810 steps):
#   ns_tpe        neurosweep TPE (startup 10), 30 trials            mpirun -np 3 (2 workers)
#   optuna_tpe    Optuna TPESampler (5.0's defaults: n_startup_trials 10, multivariate, constant
#                 liar), 30 trials, n_jobs 2
#   optuna_tpe_uni  the same with multivariate=False (univariate, as neurosweep's); not in the
#                 default list: --arms optuna_tpe_uni
#   ns_asha       neurosweep ASHA (promotion variant, its default), random draws, rungs 1 3 9 27,
#                 eta 3, "budget": {"resource": 810}
#   ns_asha_stop  the same with "variant": "stopping" (Ray's and Optuna's rule)
#   ray_asha      Ray Tune ASHAScheduler (grace 1, max_t 27, rf 3, 1 bracket), random draws,
#                 stopped once 810 step results were seen
#   optuna_sha    Optuna RandomSampler + SuccessiveHalvingPruner (min_resource 1, rf 3), until
#                 810 steps
#   ns_pbt        neurosweep PBT: population 30, interval 3, max 27, quantile 0.25, perturb
#                 0.8/1.2, resample 0.25, lr damping decay mutable
#   ray_pbt       Ray Tune PopulationBasedTraining, the same settings (Ray's defaults otherwise)
# Sweep seeds K..K+N-1. --quick: 1 seed. Every trained step is appended by the objective to a log (one line a step, in
# the order trained), which gives each arm's resource spent and its best-so-far curve. Writes
# OUT (default bench/results/peers_quality): runs.csv, curves.csv (best-so-far, improvements
# only), versions.txt, summary.txt; the sweeps' own directories go to a temporary directory,
# removed at the end (NS_QUALITY_KEEP=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=5
FIRST=0
ARMS="ns_tpe optuna_tpe ns_asha ns_asha_stop ray_asha optuna_sha ns_pbt ray_pbt"
OUT=bench/results/peers_quality
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) SEEDS=$2; shift 2 ;;
    --first) FIRST=$2; shift 2 ;;
    --quick) SEEDS=1; shift ;;
    --arms) ARMS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "usage: bash bench/peers/quality.sh [--seeds N] [--first K] [--quick] [--arms \"ARM ...\"] [--out DIR]" >&2; exit 2 ;;
  esac
done
NS=${NS_BENCH_BINARY:-build/app/neurosweep}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
source bench/peers/env.sh
OPTUNA_PY=$(peer_python optuna)
RAY_PY=$(peer_python ray)
case " $ARMS" in *" ns_"*) [ -x "$NS" ] || { echo "no $NS (build it first)" >&2; exit 1; } ;; esac
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/ns_quality.XXXXXX)
[ "${NS_QUALITY_KEEP:-0}" = 1 ] || trap 'rm -rf "$TMP"' EXIT
{
  echo "date $(date -Is)"
  echo "host $(lscpu | grep 'Model name' | sed 's/  */ /g'), $(nproc) cores"
  echo "neurosweep $(git rev-parse --short HEAD)$(git diff --quiet -- engine models core sweeps app || echo +dirty), binary $(stat -c '%y' "$NS" 2>/dev/null || echo absent)"
  echo "mpirun $(mpirun --version | head -1)"
  echo "objective python $(/usr/bin/python3 --version 2>&1)"
  peer_versions optuna ray
} | tee "$OUT/versions.txt"

# ns_spec ARM SEED LOG FILE: the neurosweep spec of an arm.
ns_spec() {
  /usr/bin/python3 - "$@" "$TMP" <<'PY'
import json, sys
arm, seed, log, dst, tmp = sys.argv[1:]
sys.path.insert(0, "bench/peers")
import quality_objective as q
budget = 30 * q.STEPS
s = {"name": f"quality_{arm}", "family": "command",
     "command": {"argv": ["/usr/bin/python3", "{cwd}/bench/peers/quality_objective.py", "--log", log],
                 "params": {"lr": 0.001, "damping": 0.1, "decay": 0.001, "steps": q.STEPS},
                 "metrics": ["val_loss"], "resource": "steps"},
     "random": {"count": 30, "params": {k: {"dist": "log_uniform", "low": lo, "high": hi}
                                        for k, (lo, hi) in q.SPACE.items()}},
     "seed": int(seed), "metric": "val_loss", "mode": "min", "out": f"{tmp}/{arm}_{seed}"}
if arm == "ns_tpe":
    s["search"] = {"kind": "tpe", "startup": 10}
elif arm in ("ns_asha", "ns_asha_stop"):
    s["random"]["count"] = 2000  # the budget ends the sweep
    s["scheduler"] = {"kind": "asha", "resource": "steps", "min": 1, "max": q.STEPS, "eta": 3,
                      "variant": "promotion" if arm == "ns_asha" else "stopping"}
    s["budget"] = {"resource": budget}
elif arm == "ns_pbt":
    s["search"] = {"kind": "pbt", "population": 30, "interval": 3, "max": q.STEPS,
                   "quantile": 0.25, "perturb": [0.8, 1.2], "resample_probability": 0.25,
                   "mutable": ["lr", "damping", "decay"]}
json.dump(s, open(dst, "w"), indent=1)
PY
}

for seed in $(seq "$FIRST" $((FIRST + SEEDS - 1))); do
  for arm in $ARMS; do
    log=$TMP/$arm.$seed.log
    rm -f "$log"
    t0=$(date +%s.%N)
    rc=0
    case $arm in
      ns_*)
        ns_spec "$arm" "$seed" "$log" "$TMP/$arm.$seed.json"
        "${MPIRUN[@]}" -np 3 "$NS" run "$TMP/$arm.$seed.json" >"$TMP/$arm.$seed.out" 2>&1 || rc=$?
        /usr/bin/python3 - "$TMP/${arm}_$seed" "$arm" "$seed" >"$TMP/$arm.$seed.tool" <<'PY' || true
import collections, csv, json, sys
d, arm, seed = sys.argv[1:]
rows = list(csv.DictReader(open(f"{d}/results.csv")))
st = collections.Counter(r["status"] for r in rows)
ok = [float(r["val_loss"]) for r in rows if r["status"] == "ok" and r["val_loss"]]
print(json.dumps({"tool": "neurosweep", "arm": arm, "seed": int(seed), "trials": len(rows),
                  "status": dict(st), "best_ok": min(ok) if ok else None}))
PY
        ;;
      optuna_tpe) "$OPTUNA_PY" bench/peers/quality_optuna.py tpe "$seed" "$log" >"$TMP/$arm.$seed.out" 2>&1 || rc=$? ;;
      optuna_tpe_uni) "$OPTUNA_PY" bench/peers/quality_optuna.py tpe_uni "$seed" "$log" >"$TMP/$arm.$seed.out" 2>&1 || rc=$? ;;
      optuna_sha) "$OPTUNA_PY" bench/peers/quality_optuna.py sha "$seed" "$log" >"$TMP/$arm.$seed.out" 2>&1 || rc=$? ;;
      ray_asha) "$RAY_PY" bench/peers/quality_ray.py asha "$seed" "$log" "$TMP/ray_$seed" >"$TMP/$arm.$seed.out" 2>&1 || rc=$? ;;
      ray_pbt) "$RAY_PY" bench/peers/quality_ray.py pbt "$seed" "$log" "$TMP/ray_$seed" >"$TMP/$arm.$seed.out" 2>&1 || rc=$? ;;
      *) echo "unknown arm $arm" >&2; exit 2 ;;
    esac
    rm -rf "$TMP/ray_$seed"
    wall=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")
    echo "$arm seed $seed: exit $rc, $(wc -l <"$log" 2>/dev/null || echo 0) steps, $wall s"
    [ "$rc" = 0 ] || { tail -20 "$TMP/$arm.$seed.out" >&2; echo "$arm seed $seed failed (exit $rc); output above" >&2; }
    echo "$arm $seed $rc $wall" >>"$TMP/walls.txt"
  done
done
/usr/bin/python3 bench/peers/quality_report.py "$TMP" "$OUT" "$(seq -s, "$FIRST" $((FIRST + SEEDS - 1)))," "$ARMS" | tee "$OUT/summary.txt"
