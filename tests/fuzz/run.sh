#!/usr/bin/env bash
# Builds the libFuzzer harness with clang (ASan + UBSan) and runs it.
#   bash tests/fuzz/run.sh [SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${FUZZ_DIR:-/tmp/ns_fuzz}; mkdir -p "$out/corpus"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -I. \
  tests/fuzz/fuzz_inputs.cpp sweeps/spec.cpp engine/csv.cpp core/log.cpp models/quadratic.cpp \
  models/classifier/idx.cpp -lfmt -lz -o "$out/fuzz_inputs"
# Seeds: the example specs, a results.csv and a tiny IDX header.
i=0; for f in examples/*.json sweeps/*.json; do printf '\0' >"$out/corpus/spec$i"; cat "$f" >>"$out/corpus/spec$i"; i=$((i+1)); done
printf '\1trial_id,status,x\na,ok,1\n"b,c",failed,"q""x"\n' >"$out/corpus/csv0"
printf '\2\0\0\x08\x01\0\0\0\x02\x05\x07' >"$out/corpus/idx0"
"$out/fuzz_inputs" -max_total_time="${1:-60}" -max_len=4096 -print_final_stats=1 "$out/corpus" 2>&1 | tail -15
