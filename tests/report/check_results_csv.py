#!/usr/bin/env python3
"""Checks that a neurosweep results.csv loads in pandas with numeric columns typed as numbers.

    python3 tests/report/check_results_csv.py runs/x/results.csv [--expect parsed.json]

A column is numeric when every non-empty cell of it reads as a float (Python's float(), which
accepts nan and inf as the engine writes them); pandas must give it a numeric dtype. With
--expect (written by test_report_pandas: the report's own parse), every complete record must also
match what pandas read, cell by cell. Exit 0 when all holds, 1 with the reasons otherwise.
"""
import argparse
import csv
import json
import math
import sys

import pandas as pd


def as_float(s):
    try:
        return float(s)
    except ValueError:
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("--expect", help="JSON {header, records, dropped_partial} from the C++ reader")
    args = ap.parse_args()

    df = pd.read_csv(args.csv)
    with open(args.csv, newline="") as f:
        raw = list(csv.reader(f))
    header, body = raw[0], raw[1:]
    problems = []
    if list(df.columns) != header:
        problems.append(f"columns differ: pandas {list(df.columns)} vs file {header}")

    numeric = []
    for j, col in enumerate(header):
        cells = [r[j] for r in body if j < len(r) and r[j] != ""]
        if cells and all(as_float(c) is not None for c in cells):
            numeric.append(col)
            if not pd.api.types.is_numeric_dtype(df[col]):
                problems.append(f"column {col!r} holds numbers but pandas typed it {df[col].dtype}")
    if "trial_id" in header and "status" in header and not numeric:
        problems.append("no numeric column at all")

    if args.expect:
        with open(args.expect) as f:
            exp = json.load(f)
        if exp["header"] != header:
            problems.append("the C++ reader saw another header")
        want_rows = len(exp["records"]) + (1 if exp["dropped_partial"] else 0)
        if len(df) != want_rows:
            problems.append(f"pandas read {len(df)} rows, expected {want_rows} "
                            f"({len(exp['records'])} complete + partial: {exp['dropped_partial']})")
        for i, rec in enumerate(exp["records"]):
            for j, col in enumerate(header):
                got, cell = df.iloc[i, j], rec[j]
                if col in numeric:
                    want = as_float(cell) if cell != "" else float("nan")
                    if pd.api.types.is_integer_dtype(df[col]):
                        ok = int(cell) == int(got)
                    elif want is None:
                        ok = False
                    else:
                        ok = (math.isnan(want) and math.isnan(got)) or want == got or \
                            math.isclose(want, got, rel_tol=1e-12)
                elif cell == "":
                    ok = pd.isna(got)
                elif pd.api.types.is_bool_dtype(df[col]):
                    ok = str(got).lower() == cell.lower()
                else:
                    ok = str(got) == cell
                if not ok:
                    problems.append(f"row {i} column {col!r}: pandas {got!r}, C++ reader {cell!r}")

    for p in problems:
        print("check_results_csv:", p, file=sys.stderr)
    print(f"check_results_csv: {args.csv}: {len(df)} rows, {len(numeric)} numeric columns "
          f"({', '.join(numeric)}): {'FAILED' if problems else 'ok'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
