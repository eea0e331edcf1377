#!/usr/bin/env python3
"""What an output directory of an ASHA, TPE or PBT sweep decided, without the timings, and the
checks tests/cli/resume_compat.sh runs on a resumed fixture (README.md in this folder).

  compare.py expect DIR PREFIX            writes PREFIX.csv (the rows) and PREFIX.jsonl (the journal)
  compare.py check FIXTURE RESUMED PREFIX [OLD_PREFIX]
      RESUMED is a copy of FIXTURE that was run to the end. Exit 1 with a message when: the
      fixture's results.csv or reports.jsonl is not a byte prefix of the resumed one; a trial with
      a row in the fixture ran again (a journal event or a changed file in its trial directory
      after the fixture); the resumed rows or journal differ from PREFIX.{csv,jsonl}. With
      OLD_PREFIX (PBT: PREFIX is what a later rule decided): the journal must equal OLD_PREFIX's
      up to the first decision made after the fixture, and that first difference must be a
      decision (pbt_exploit or pbt_continue), not a result.
"""
import csv
import io
import json
import os
import sys

# Differ from run to run (started/ended: when a row's trial or a paused visit ran, written since
# issue 29; absent from the fixtures).
TIMING_COLUMNS = ("wall_s", "started", "ended", "rank", "host", "device")
TIMING_FIELDS = ("wall_s", "started", "ended", "rank", "host", "device")


def rows(d):
    """results.csv without the timing columns, sorted by trial id, as CSV text."""
    with open(os.path.join(d, "results.csv"), newline="") as f:
        r = list(csv.DictReader(f))
    if not r:
        return ""
    cols = [c for c in r[0] if c not in TIMING_COLUMNS]
    out = io.StringIO()
    w = csv.DictWriter(out, cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in sorted(r, key=lambda x: x["trial_id"]):
        w.writerow(row)
    return out.getvalue()


def events(d):
    """reports.jsonl's events without the timing fields, one canonical JSON line each."""
    out = []
    with open(os.path.join(d, "reports.jsonl")) as f:
        for line in f:
            if not line.strip():
                continue
            e = json.loads(line)
            if e.get("event") == "journal":
                continue  # the format line (docs/formats.md): checked by check(), not a decision
            for k in TIMING_FIELDS:
                e.pop(k, None)
            out.append(json.dumps(e, sort_keys=True))
    return out


def restarts(fixture_events):
    """ASHA: (trial, rung) of the "start"s in the fixture that have no rung decision after them
    (the trials running at the interruption); a resume starts them once more."""
    open_ = {}
    for line in fixture_events:
        e = json.loads(line)
        key = (e.get("trial"), e.get("rung"))
        if e["event"] == "start":
            open_[key] = True
        elif e["event"] == "rung":
            open_.pop(key, None)
    return set(open_)


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else None


def tree(d):
    """{relative path: bytes} of every file under d."""
    out = {}
    for root, _, files in os.walk(d):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def check(fixture, resumed, prefix, old_prefix=None):
    name = os.path.basename(os.path.normpath(fixture))
    for f in ("results.csv", "reports.jsonl"):
        a = open(os.path.join(fixture, f), "rb").read()
        b = open(os.path.join(resumed, f), "rb").read()
        if not b.startswith(a):
            fail(f"{name}: the fixture's {f} is not kept byte for byte at the start of the resumed one")
    # A format-1 journal resumed by this version: one format line, after the old events.
    lines = [json.loads(l) for l in open(os.path.join(resumed, "reports.jsonl")) if l.strip()]
    fmt_lines = [i for i, e in enumerate(lines) if e.get("event") == "journal"]
    old_lines = sum(1 for l in open(os.path.join(fixture, "reports.jsonl")) if l.strip())
    if fmt_lines != [old_lines] or lines[old_lines].get("format") != 2:
        fail(f"{name}: expected one format line {{\"event\": \"journal\", \"format\": 2}} right "
             f"after the fixture's {old_lines} events, found it at {fmt_lines}")
    fx = events(fixture)
    got = events(resumed)
    # No trial with a row in the fixture ran again: no event of it after the fixture's journal,
    # its trial directory as it was.
    with open(os.path.join(fixture, "results.csv"), newline="") as f:
        done = [r["trial_id"] for r in csv.DictReader(f)]
    for line in got[len(fx):]:
        e = json.loads(line)
        if e.get("trial") in done:
            fail(f"{name}: trial {e['trial']} had a row but ran again: {line}")
    for t in done:
        a, b = (tree(os.path.join(d, "trials", t)) for d in (fixture, resumed))
        if a != b:
            changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            fail(f"{name}: trial {t} had a row but its directory changed: {changed}")
    got_rows = rows(resumed)
    ids = [l.split(",", 1)[0] for l in got_rows.splitlines()[1:]]
    if len(ids) != len(set(ids)):
        fail(f"{name}: a trial has two rows")
    want_rows = open(prefix + ".csv").read()
    if got_rows != want_rows:
        g, w = got_rows.splitlines(), want_rows.splitlines()
        i = first_diff(w, g)
        fail(f"{name}: rows differ from {os.path.basename(prefix)}.csv at line {i + 1}:\n"
             f"  expected {w[i] if i < len(w) else '(none)'}\n  got      {g[i] if i < len(g) else '(none)'}")
    # The journal: the trials running at the interruption start once more (ASHA's "start"); the
    # rest is the expected journal, line for line.
    again = restarts(fx)
    kept = got[: len(fx)]
    for line in got[len(fx):]:
        e = json.loads(line)
        key = (e.get("trial"), e.get("rung"))
        if e["event"] == "start" and key in again:
            again.discard(key)
            continue
        kept.append(line)
    want = [l.rstrip("\n") for l in open(prefix + ".jsonl")]
    i = first_diff(want, kept)
    if i is not None:
        fail(f"{name}: journal differs from {os.path.basename(prefix)}.jsonl at event {i + 1} "
             f"(the fixture holds {len(fx)}):\n  expected {want[i] if i < len(want) else '(none)'}\n"
             f"  got      {kept[i] if i < len(kept) else '(none)'}")
    msg = f"{name}: {len(done)} old rows and {len(fx)} old journal events kept; {len(ids)} rows, " \
          f"{len(kept)} events as {os.path.basename(prefix)}"
    if old_prefix:
        old = [l.rstrip("\n") for l in open(old_prefix + ".jsonl")]
        j = first_diff(old, kept)
        if j is not None:
            if j < len(fx):
                fail(f"{name}: a decision of the fixture's journal was not kept (event {j + 1})")
            ev = json.loads(kept[j])["event"]
            if ev not in ("pbt_exploit", "pbt_continue"):
                fail(f"{name}: event {j + 1} differs from {os.path.basename(old_prefix)}.jsonl and is "
                     f"a {ev}, not a decision:\n  old {old[j]}\n  got {kept[j]}")
            msg += f"; as {os.path.basename(old_prefix)} up to event {j} ({j - len(fx)} after the fixture)"
        else:
            msg += f"; also as {os.path.basename(old_prefix)}"
    print(msg)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "expect":
        d, prefix = sys.argv[2], sys.argv[3]
        open(prefix + ".csv", "w").write(rows(d))
        open(prefix + ".jsonl", "w").write("".join(l + "\n" for l in events(d)))
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "check":
        check(*sys.argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
