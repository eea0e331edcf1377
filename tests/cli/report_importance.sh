#!/usr/bin/env bash
# What mattered (issue 29): a random quadratic sweep (models/quadratic.hpp: score =
# -((x-1)^2 + (y+2)^2) + 0.1 k) with x uniform on [-3, 5], y on [-4, 0], k in 0..5, whose true
# variance fractions are x 0.940, y 0.059, k 0.001 (tests/report/test_importance.cpp works them
# out). `report` ranks them x, y, k by PED-ANOVA importance in the terminal and on the page (the
# parallel coordinates hold every trial); `--metric2` sets a second column against the score
# with its Pareto front (checked against results.csv here); a column that is not one is exit 2.
source "$(dirname "$0")/lib.sh"
cat >"$TMP/spec.json" <<JSON
{"name": "importance", "family": "quadratic",
 "random": {"count": 150, "params": {"x": {"dist": "uniform", "low": -3, "high": 5},
                                     "y": {"dist": "uniform", "low": -4, "high": 0},
                                     "k": {"dist": "int", "low": 0, "high": 5}}},
 "seed": 4, "metric": "score", "mode": "max", "out": "$TMP/sweep"}
JSON
expect_exit 0 "$NS" run "$TMP/spec.json"
expect_exit 0 "$NS" report "$TMP/sweep" --metric2 x --mode2 min --html "$TMP/page.html"
cp "$TMP/out" "$TMP/terminal.txt"
python3 - "$TMP" <<'PY'
import csv, json, re, sys
tmp = sys.argv[1]
text = open(f"{tmp}/terminal.txt").read()
m = re.search(r"What mattered: PED-ANOVA importance \(the top (\d+) of (\d+) trials.*\n"
              r"  parameter .*\n((?:  \S+ .*\n)+)", text)
assert m, text
assert (m.group(1), m.group(2)) == ("15", "150"), m.group(0)
rows = [l.split() for l in m.group(3).splitlines()]
order = [r[0] for r in rows]
assert order == ["x", "y", "k"], m.group(0)
assert abs(sum(float(r[1]) for r in rows) - 1) < 0.01, rows
assert "uniform [-3, 5]" in m.group(0) and "int 0..5" in m.group(0), m.group(0)
# The marginals follow the same order.
marg = re.findall(r"^  (\w+)  \(importance ", text, re.M)
assert marg == ["x", "y", "k"], marg

# Pareto front of score (max) against x (min), by hand from results.csv.
res = [r for r in csv.DictReader(open(f"{tmp}/sweep/results.csv", newline="")) if r["status"] == "ok"]
pts = [(float(r["score"]), -float(r["x"]), r["trial_id"]) for r in res]
front = sorted(p for p in pts if not any(q[0] >= p[0] and q[1] >= p[1] and q[:2] != p[:2] for q in pts))
assert len(front) >= 3, front
m = re.search(r"Pareto front: score \(max\) against x \(min, as --mode2 says\): (\d+) of (\d+) ok trials\n"
              r"  trial .*\n((?:  \S+ .*\n)+)", text)
assert m, text
assert int(m.group(1)) == len(front) and int(m.group(2)) == len(pts), (m.group(0), front)
# The first 20 listed, the best score first, then "... and N more".
listed = [l.split()[0] for l in m.group(3).splitlines() if not l.startswith("  ...")]
assert listed == [p[2] for p in sorted(front, key=lambda p: -p[0])][:20], (m.group(0), front)
assert len(front) <= 20 or f"... and {len(front) - 20} more" in m.group(0), m.group(0)

# The page: the same order, every trial a line of the parallel coordinates, the front.
page = open(f"{tmp}/page.html").read()
data = json.loads(re.search(r'<script type="application/json" id="ns-data">(.*?)</script>', page, re.S)
                  .group(1).replace("<\\/", "</"))
assert [p["param"] for p in data["importance"]["params"]] == ["x", "y", "k"], data["importance"]
assert len(data["parallel"]["lines"]) == 150 and data["parallel"]["left_out"] == 0
assert [a["kind"] for a in data["parallel"]["axes"]] == ["range", "range", "values"] or \
    sorted(a["kind"] for a in data["parallel"]["axes"]) == ["range", "range", "values"], data["parallel"]["axes"]
assert data["pareto"]["metric2"] == "x" and len(data["pareto"]["front"]) == len(front)
print("ok: importance", [(r[0], r[1]) for r in rows], "; front of", len(front), "of", len(pts))
PY

# The default second metric is wall_s (min); an unknown column or the ranking metric: exit 2.
expect_exit 0 "$NS" report "$TMP/sweep"
grep -q "Pareto front: score (max) against wall_s (min, inferred from the name)" "$TMP/out" ||
  fail "no wall_s Pareto front: $(cat "$TMP/out")"
expect_exit 2 "$NS" report "$TMP/sweep" --metric2 nope --html "$TMP/no.html"
grep -q -- '--metric2 "nope": not a metric, wall_s or numeric parameter column' "$TMP/err" ||
  fail "message: $(cat "$TMP/err")"
[ ! -e "$TMP/no.html" ] || fail "bad --metric2 wrote the page"
expect_exit 2 "$NS" report "$TMP/sweep" --metric2 score
grep -q "already ranks" "$TMP/err" || fail "message: $(cat "$TMP/err")"
echo "ok: report_importance"
