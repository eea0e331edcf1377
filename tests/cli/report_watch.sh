#!/usr/bin/env bash
# `report DIR --html FILE --watch SECONDS` (issue 29): while a slow sweep runs in the background
# the page is rewritten at least twice, each time holding the meta refresh; once state.json says
# the sweep ended, the last page has no refresh and report exits 0. SIGTERM stops a watch of a
# sweep that still "runs" cleanly (exit 0, a page without the refresh). --watch without --html,
# with two directories, or below 1 s is exit 2.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/slow.json" <<JSON
{"name": "watched", "family": "quadratic", "grid": {"x": [0, 1, 2, 3, 4, 5, 6, 7]},
 "training": {"sleep_s": 0.8}, "metric": "score", "mode": "max", "out": "$TMP/sweep"}
JSON
"$NS" run "$TMP/slow.json" >"$TMP/run.out" 2>&1 &
run_pid=$!
wait_until 30 '[ -s "$TMP/sweep/results.csv" ] && grep -q running "$TMP/sweep/state.json"' ||
  fail "the sweep did not start"
"$NS" report "$TMP/sweep" --html "$TMP/page.html" --watch 1 >"$TMP/watch.out" 2>"$TMP/watch.err" &
watch_pid=$!
# While the sweep runs: every version of the page seen (a rename gives each a new inode).
seen=""
while kill -0 "$run_pid" 2>/dev/null; do
  if [ -f "$TMP/page.html" ] && grep -q '"running"' "$TMP/sweep/state.json" 2>/dev/null; then
    v=$(stat -c %i "$TMP/page.html")
    if ! grep -qx "$v" <<<"$seen"; then
      grep -q '<meta http-equiv="refresh" content="1">' "$TMP/page.html" ||
        fail "a page written while the sweep runs has no refresh"
      seen+="$v"$'\n'
    fi
  fi
  sleep 0.1
done
wait "$run_pid" || fail "the sweep failed: $(cat "$TMP/run.out")"
versions=$(grep -c . <<<"$seen" || true)
[ "$versions" -ge 2 ] || fail "the page was written $versions time(s) while the sweep ran, expected >= 2"
wait_until 60 '! kill -0 "$watch_pid" 2>/dev/null' || { kill "$watch_pid"; fail "--watch did not stop after the sweep ended"; }
wait "$watch_pid" || fail "--watch exited $?: $(cat "$TMP/watch.err")"
grep -q 'http-equiv="refresh"' "$TMP/page.html" && fail "the final page still reloads itself"
grep -q "Timeline" "$TMP/watch.out" || fail "no terminal report at the end"
echo "page written $versions time(s) while the sweep ran; the final one without the refresh"

# A sweep that still says "running" and whose lock names a live process on this host (here this
# test's shell: a run on another node looks the same): SIGTERM ends the watch cleanly.
cp -r "$TMP/sweep" "$TMP/stuck"
python3 - "$TMP/stuck/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["state"] = "running"
json.dump(s, open(sys.argv[1], "w"))
PY
cp -r "$TMP/stuck" "$TMP/killed"
printf 'host=%s,pid=%s\n' "$(hostname)" "$$" >"$TMP/stuck/.lock"
rm -f "$TMP/page.html"
"$NS" report "$TMP/stuck" --html "$TMP/page.html" --watch 1 >"$TMP/watch.out" 2>"$TMP/watch.err" &
watch_pid=$!
wait_until 30 '[ -f "$TMP/page.html" ]' || fail "no page from the watch of a running sweep"
grep -q 'http-equiv="refresh"' "$TMP/page.html" || fail "the page of a running sweep does not reload"
kill -TERM "$watch_pid"
wait "$watch_pid" || fail "--watch exited $? on SIGTERM: $(cat "$TMP/watch.err")"
grep -q 'http-equiv="refresh"' "$TMP/page.html" && fail "the page still reloads after SIGTERM"

# The same, but the lock's process is gone (the run was killed): the watch sees it and stops.
dead=$(sh -c 'echo $$')  # a process that has ended
printf 'host=%s,pid=%s\n' "$(hostname)" "$dead" >"$TMP/killed/.lock"
expect_exit 0 timeout "$(scaled 60)" "$NS" report "$TMP/killed" --html "$TMP/killed.html" --watch 1
grep -q "is gone (killed?)" "$TMP/err" || { cat "$TMP/err"; fail "--watch of a killed run: no warning"; }
grep -q 'http-equiv="refresh"' "$TMP/killed.html" && fail "the page of a killed run still reloads"

expect_exit 2 "$NS" report "$TMP/sweep" --watch 1
grep -q -- "--watch 1: needs --html" "$TMP/err" || { cat "$TMP/err"; fail "--watch without --html"; }
expect_exit 2 "$NS" report "$TMP/sweep" "$TMP/stuck" --html "$TMP/c.html" --watch 1
grep -q -- "--watch: watches one sweep directory" "$TMP/err" || { cat "$TMP/err"; fail "--watch, two dirs"; }
expect_exit 2 "$NS" report "$TMP/sweep" --html "$TMP/p.html" --watch 0
echo "report_watch: ok"
