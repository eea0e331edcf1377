"""Compares bench/refactor_picks.sh's reruns with the committed runs of bench/search.md.

    python3 bench/refactor_picks.py OUT SEED "TASKS" "ARMS"

For each task and arm: the pick (best.json: trial id, validation and test metric) of the old
(committed) and new (OUT) run; the trial ids both results.csv files have and the largest
|difference| of their validation and test metrics; and the decisions in order (the journal's
events reduced to what was decided: which trial, rung, decision, proposal index and parameters,
exploit donor and step; for the random arm, which has no journal, the rows of results.csv). The
first decision where the two runs part is printed with the largest |difference| of the values the
search had seen before it: 0 means both runs saw the same numbers and still decided differently
(a change of behaviour); above 0 means the inputs had drifted (float differences across CPUs).
Prints a table and writes OUT/compare.csv.
"""
import json
import math
import os
import sys

import pandas as pd

COMMITTED = {"random": "bench/results/search", "tpe": "bench/results/search",
             "tpe_asha": "bench/results/search_asha", "pbt": "bench/results/search_pbt"}
# The fields of a journal event that say what was decided (not the measured values).
DECISION_FIELDS = ("trial", "member", "donor", "donor_trial", "rung", "decision", "index",
                   "status", "step", "from_step", "reason", "attempt", "params")


def number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def events(path):
    """(decision key, value seen or nan) per journal line, format line skipped."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            e = json.loads(line)
            if e.get("event") == "journal":
                continue
            key = (e["event"],) + tuple((k, json.dumps(e[k], sort_keys=True))
                                        for k in DECISION_FIELDS if k in e)
            out.append((key, number(e.get("value"))))
    return out


def row_events(df, val):
    return [((("row", r.trial_id, r.status),), number(getattr(r, val))) for r in df.itertuples()]


def absdiff(a, b):
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return math.inf
    return abs(a - b)


def first_divergence(old, new):
    """(index, text, max |diff| of the values seen before it); index None if the sequences agree.
    Indices count the journal's events from 0, its format line left out."""
    seen = 0.0
    for i, ((ko, vo), (kn, vn)) in enumerate(zip(old, new)):
        if ko != kn:
            return i, f"old {short(ko)} / new {short(kn)}", seen
        seen = max(seen, absdiff(vo, vn))
    if len(old) != len(new):
        i = min(len(old), len(new))
        return i, f"old has {len(old)} decisions, new {len(new)}", seen
    return None, "", seen


def short(key):
    fields = dict(key[1:])
    fields.pop("params", None)
    return key[0] + " " + " ".join(f"{k}={v.strip(chr(34))}" for k, v in fields.items())


def pbt_replay(path, keep_value, maximize):
    """Replays PBT's quantile rule over a journal: before each pbt_continue / pbt_exploit, the
    members with a value that have not ended, ranked best first (ties by index), q = ceil(n x
    quantile) at most floor(n / 2); the deciding member exploits when it is in the bottom q (and a
    top-q member other than itself has a snapshot). keep_value: the rule since 6613cb5 (a member
    keeps its last value across an exploit); False: the rule before (an exploit clears it).
    Returns (decisions, how many the rule predicts as recorded, the first it does not: (line,
    member, step, recorded) or None)."""
    quantile = 0.25
    value, latest, done = {}, {}, set()
    total = agree = 0
    first = None
    with open(path) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    lines = [e for e in lines if e.get("event") != "journal"]  # numbered as first_divergence
    for n, e in enumerate(lines):
        ev, m = e.get("event"), e.get("member")
        if ev == "pbt_result":
            value[m] = number(e.get("value")) if e["status"] in ("paused", "ok") else None
            latest[m] = e.get("snapshot", "")
            if e["status"] != "paused":
                done.add(m)
        elif ev in ("pbt_continue", "pbt_exploit"):
            if ev == "pbt_exploit" and e.get("reason") != "quantile":
                continue
            ranked = sorted((k for k, v in value.items() if v is not None and k not in done),
                            key=lambda k: (-value[k] if maximize else value[k], k))
            q = min(math.ceil(len(ranked) * quantile - 1e-12), len(ranked) // 2)
            top, bottom = ranked[:q], ranked[len(ranked) - q:]
            donors = [k for k in top if k != m and latest.get(k)]
            predicted = "pbt_exploit" if m in bottom and donors else "pbt_continue"
            total += 1
            if predicted == ev:
                agree += 1
            elif first is None:
                first = (n, m, e.get("step"), ev)
            if ev == "pbt_exploit":
                latest[m] = ""
                if not keep_value:
                    value[m] = None
    return total, agree, first


def exploited(path):
    with open(path) as f:
        return {e["trial"] for e in map(json.loads, filter(str.strip, f))
                if e.get("event") == "pbt_exploit"}


def pbt_rules(path, maximize):
    out = []
    for name, keep in (("old rule", False), ("new rule", True)):
        total, agree, first = pbt_replay(path, keep, maximize)
        where = "" if first is None else (
            f"; first other: event #{first[0]}, member {first[1]} at step {first[2]:g} "
            f"({first[3]} recorded)")
        out.append(f"{name} predicts {agree} of {total}{where}")
    return "; ".join(out)


def pick(d):
    b = json.load(open(os.path.join(d, "best.json")))
    return b


def main():
    out, seed, tasks, arms = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split()
    rows, pbt_lines, cross_lines = [], [], []
    for task in tasks:
        for arm in arms:
            old_dir = f"{COMMITTED[arm]}/{task}/seed{seed}/{arm}"
            new_dir = f"{out}/{task}/seed{seed}/{arm}"
            state = os.path.join(new_dir, "state.json")
            if not os.path.exists(state) or json.load(open(state)).get("state") != "complete":
                print(f"{task} {arm}: no complete rerun in {new_dir}", file=sys.stderr)
                continue
            bo, bn = pick(old_dir), pick(new_dir)
            val = bo["metric"]
            test = "test_" + val[len("val_"):]
            do = pd.read_csv(os.path.join(old_dir, "results.csv"))
            dn = pd.read_csv(os.path.join(new_dir, "results.csv"))
            m = do[["trial_id", val, test]].merge(dn[["trial_id", val, test]], on="trial_id",
                                                  suffixes=("_old", "_new"))
            dval = (m[val + "_old"] - m[val + "_new"]).abs().max() if len(m) else math.nan
            dtest = (m[test + "_old"] - m[test + "_new"]).abs().max() if len(m) else math.nan
            exact = int(((m[val + "_old"] == m[val + "_new"]) |
                         (m[val + "_old"].isna() & m[val + "_new"].isna())).sum())
            if arm == "random":
                eo, en = row_events(do, val), row_events(dn, val)
            else:
                eo = events(os.path.join(old_dir, "reports.jsonl"))
                en = events(os.path.join(new_dir, "reports.jsonl"))
            at, what, seen = first_divergence(eo, en)
            ex_old = sum(1 for k, _ in eo if k[0] == "pbt_exploit")
            ex_new = sum(1 for k, _ in en if k[0] == "pbt_exploit")
            if arm == "tpe_asha":
                # Its startup draws that reached the top rung are random-arm trials: against the
                # committed random arm (run on an AMD EPYC; tpe_asha's own on an Intel Xeon).
                rr = pd.read_csv(f"{COMMITTED['random']}/{task}/seed{seed}/random/results.csv")
                c = dn[dn.status == "ok"][["trial_id", val, test]].merge(
                    rr[["trial_id", val, test]], on="trial_id", suffixes=("_new", "_random"))
                cross_lines.append(
                    f"{task} tpe_asha: its {len(c)} startup draws trained to the end against the "
                    f"committed random arm's rows: max abs diff {val} "
                    f"{(c[val + '_new'] - c[val + '_random']).abs().max():.3g}, {test} "
                    f"{(c[test + '_new'] - c[test + '_random']).abs().max():.3g}")
            if arm == "pbt":
                # Members that never exploited trained their own draw to the end in segments:
                # against the random arm's row of the same trial (trained in one go).
                rr = pd.read_csv(f"{COMMITTED['random']}/{task}/seed{seed}/random/results.csv")
                for name, d, df in (("old", old_dir, do), ("new", new_dir, dn)):
                    own = [t for t in df.trial_id
                           if t not in exploited(os.path.join(d, "reports.jsonl"))]
                    c = df[df.trial_id.isin(own)][["trial_id", val]].merge(
                        rr[["trial_id", val]], on="trial_id", suffixes=("_pbt", "_random"))
                    diff = (c[val + "_pbt"] - c[val + "_random"]).abs()
                    cross_lines.append(
                        f"{task} pbt {name}: {len(c)} members never exploited; their {val} against "
                        f"the committed random arm's rows: max abs diff {diff.max():.3g}, "
                        f"{int((diff == 0).sum())} equal")
                maximize = bo.get("mode", "max") == "max"
                pbt_lines.append(f"{task} pbt, exploits old {ex_old}, new {ex_new}. Quantile rule "
                                 f"replayed over the old journal: "
                                 f"{pbt_rules(os.path.join(old_dir, 'reports.jsonl'), maximize)}. "
                                 f"Over the new journal: "
                                 f"{pbt_rules(os.path.join(new_dir, 'reports.jsonl'), maximize)}")
            wall = open(f"{out}/{task}/seed{seed}/{arm}.wall").read().strip()
            rows.append({
                "task": task, "arm": arm,
                "old_pick": bo["trial_id"], "old_val": bo["metrics"][val],
                "old_test": bo["metrics"].get(test, math.nan),
                "new_pick": bn["trial_id"], "new_val": bn["metrics"][val],
                "new_test": bn["metrics"].get(test, math.nan),
                "same_pick": bo["trial_id"] == bn["trial_id"] and bo["params"] == bn["params"],
                "rows_old": len(do), "rows_new": len(dn), "shared_ids": len(m),
                "shared_val_exact": exact,
                "max_abs_dval": dval, "max_abs_dtest": dtest,
                "decisions_old": len(eo), "decisions_new": len(en),
                "first_divergence": "none" if at is None else at,
                "divergence": what, "max_abs_dvalue_seen_before": seen,
                "exploits_old": ex_old, "exploits_new": ex_new,
                "wall_s_new": round(float(wall), 1),
            })
    df = pd.DataFrame(rows)
    df.to_csv(os.path.join(out, "compare.csv"), index=False)
    print(f"seed {seed}; old = committed run, new = {out}")
    print("| task | arm | old pick (val, test) | new pick (val, test) | same? "
          "| shared ids (val equal) | max abs diff val, test | decisions old/new "
          "| first divergent decision | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        div = "none" if r["first_divergence"] == "none" else (
            f"event #{r['first_divergence']}: {r['divergence']}; values seen before it differ by "
            f"<= {r['max_abs_dvalue_seen_before']:.3g}")
        print(f"| {r['task']} | {r['arm']} | {r['old_pick']} ({r['old_val']:.4f}, {r['old_test']:.4f}) "
              f"| {r['new_pick']} ({r['new_val']:.4f}, {r['new_test']:.4f}) "
              f"| {'yes' if r['same_pick'] else 'NO'} "
              f"| {r['shared_ids']} of {r['rows_old']}/{r['rows_new']} ({r['shared_val_exact']}) "
              f"| {r['max_abs_dval']:.3g}, {r['max_abs_dtest']:.3g} "
              f"| {r['decisions_old']}/{r['decisions_new']} | {div} | {r['wall_s_new']} |")
    for line in cross_lines + pbt_lines:
        print(line)


if __name__ == "__main__":
    main()
