# Shared helpers for the CLI tests.
set -euo pipefail
NS=${NS_BINARY:?NS_BINARY must point at the neurosweep binary}
SRC=${NS_SOURCE_DIR:?}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
TMP=$(mktemp -d /tmp/ns_cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# expect_exit CODE CMD...: runs CMD, checks its exit status, keeps stderr in $TMP/err.
expect_exit() {
  local want=$1; shift
  set +e
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  set -e
  [ "$got" -eq "$want" ] || { cat "$TMP/err" >&2; fail "exit $got, expected $want: $*"; }
}
