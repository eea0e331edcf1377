#!/usr/bin/env bash
# Builds the libFuzzer harness with clang (ASan + UBSan) and runs it.
#   bash tests/fuzz/run.sh [SECONDS=60]
# Prints libFuzzer's final lines and the executions per target summed over every process (in
# fork mode, one per job).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${FUZZ_DIR:-/tmp/ns_fuzz}; mkdir -p "$out/corpus"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -I. \
  tests/fuzz/fuzz_inputs.cpp sweeps/spec.cpp engine/csv.cpp engine/trial_runner.cpp core/log.cpp \
  core/json.cpp core/json_text.cpp core/file.cpp models/quadratic.cpp models/command/report.cpp models/command/process.cpp \
  models/classifier/idx.cpp models/neural/dataset.cpp models/neural/h5.cpp \
  models/neural/simulate.cpp models/neural/metrics.cpp $(pkg-config --cflags --libs hdf5) -lfmt -lz -o "$out/fuzz_inputs"
# Seeds: the example specs, a results.csv, a tiny IDX header and a few report lines (byte 4).
i=0; for f in examples/*.json sweeps/*.json; do printf '\0' >"$out/corpus/spec$i"; cat "$f" >>"$out/corpus/spec$i"; i=$((i+1)); done
printf '\1trial_id,status,x\na,ok,1\n"b,c",failed,"q""x"\n' >"$out/corpus/csv0"
printf '\2\0\0\x08\x01\0\0\0\x02\x05\x07' >"$out/corpus/idx0"
printf '\4{"step": 1, "metrics": {"score": 0.5, "loss": "nan", "other": 2}}\n{"final": {"score": 1e3}}\nplain text\n' >"$out/corpus/report0"
printf '\4{"step": "three", "metrics": {"score": [1]}}\n{"final": {"score": {"a": null}}, "final": 1}\n{not json\n' >"$out/corpus/report1"
printf '\4{"step": 2, "metrics": {"score": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}\n' >"$out/corpus/report2"
# HDF5 seeds: tiny simulated datasets written by the program itself, one complete and one with
# missing repeats, each under target byte 3 (CCnorm asked for) and 8 (CCnorm off).
sim=${NS_BIN:-build/app/neurosweep}
if [ -x "$sim" ]; then
  k=0
  for block in '{"images":10,"size":8,"neurons":2,"repeats":2}' \
               '{"images":12,"size":8,"neurons":3,"repeats":3,"missing":0.3}'; do
    "$sim" simulate --data "$block" --out "$out/seed$k.h5" >/dev/null
    for b in 3 8; do printf "\\$(printf '%03o' $b)" >"$out/corpus/h5_${k}_$b"; cat "$out/seed$k.h5" >>"$out/corpus/h5_${k}_$b"; done
    k=$((k+1))
  done
else
  echo "run.sh: $sim not built: no HDF5 seeds (build it first for a useful HDF5 run)"
fi
# libhdf5 mallocs what a damaged header says (its metadata cache): let malloc fail as it would
# without the sanitizer, so HDF5 reports an error instead of ASan aborting.
counts="$out/counts.txt"; : >"$counts"
NS_FUZZ_COUNTS="$counts" \
ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:detect_leaks=0} "$out/fuzz_inputs" -max_total_time="${1:-60}" -max_len=${FUZZ_MAX_LEN:-16384} -rss_limit_mb=4096 -malloc_limit_mb=4096 -print_final_stats=1 -detect_leaks=0 -artifact_prefix="$out/" ${FUZZ_ARGS:-} "$out/corpus" >"$out/log.txt" 2>&1 || true
grep -v "^runs per target" "$out/log.txt" | tail -16
awk '{s+=$1; c+=$2; i+=$3; h+=$4; r+=$5; n++} END {printf "executions over %d process(es): spec %d, csv %d, idx %d, hdf5 %d, report %d, total %d\n", n, s, c, i, h, r, s+c+i+h+r}' "$counts"
