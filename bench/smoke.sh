#!/usr/bin/env bash
# The bench smoke tests' runner (bench/CMakeLists.txt): runs CMD, prints its output, and fails
# when CMD exits non-zero or when its output (stdout and stderr) does not match REGEX. ctest's
# PASS_REGULAR_EXPRESSION alone would ignore the exit status.
#   bench/smoke.sh REGEX CMD [ARGS...]     REGEX: Python syntax, `.` also matches newlines
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: smoke.sh REGEX CMD [ARGS...]" >&2; exit 2; }
re=$1
shift
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: exit status $rc: $*" >&2; exit 1; }
python3 -c 'import re, sys; sys.exit(0 if re.search(sys.argv[1], sys.stdin.read(), re.S) else 1)' \
  "$re" <<<"$out" || { echo "FAIL: the output does not match: $re" >&2; exit 1; }
