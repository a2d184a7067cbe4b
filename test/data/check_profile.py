"""
Checks a Mobius dataset profile against an independent computation with pandas/numpy.

    python3 check_profile.py <data.csv> <profile.json>

Prints a JSON list of disagreements (empty when the profile is right) and exits 0; the
vitest driver (test/data-profile-pandas.test.ts) asserts the list is empty.

The CSV is read as text and converted here, so NaN, ±inf and empty (null) stay distinct
(pandas' own parser would fold 'nan' into missing). Tolerances:
  - exact: count, null count, NaN/inf counts, min, max, string lengths, histogram counts
    (numpy.histogram with 20 bins over [min, max]), top-value counts, distinct counts
    the profile marks exact;
  - mean and stddev (ddof=1): relative 1e-9 (summation order differs);
  - distinct counts the profile marks estimated (hash-sampled): relative 2%;
  - quantiles of columns counted exactly (distinctExact): numpy's linear quantile,
    relative 1e-9; otherwise (t-digest): q lies within ±0.01 of the ranks the reported value covers
    in the sorted data ([F(v-), F(v)], which ties widen);
  - top values: every reported count is exact, and the true 3 most frequent values
    (when their counts are distinct from the 11th) are among those reported; left out
    (null) only when the column's first 200,000 values are all distinct.
"""
import json
import math
import sys

import numpy as np
import pandas as pd

csv_path, profile_path = sys.argv[1], sys.argv[2]
profile = json.load(open(profile_path))
frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[])
problems = []


def problem(column, stat, expected, got):
    problems.append({"column": column, "stat": stat, "expected": expected, "got": got})


def close(a, b, rel):
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


if len(frame) != profile["rowCount"]:
    problem("*", "rowCount", len(frame), profile["rowCount"])

for col in profile["columns"]:
    name, kind = col["name"], col["kind"]
    text = frame[name]
    present = text[text != ""]
    if int((text == "").sum()) != col["nullCount"]:
        problem(name, "nullCount", int((text == "").sum()), col["nullCount"])
    if len(present) != col["count"]:
        problem(name, "count", len(present), col["count"])

    if kind in ("integer", "float", "decimal"):
        values = present.astype(float).to_numpy()
        finite = values[np.isfinite(values)]
        if kind == "float":
            if int(np.isnan(values).sum()) != col["nanCount"]:
                problem(name, "nanCount", int(np.isnan(values).sum()), col["nanCount"])
            if int(np.isinf(values).sum()) != col["infiniteCount"]:
                problem(name, "infiniteCount", int(np.isinf(values).sum()), col["infiniteCount"])
        lo, hi = float(finite.min()), float(finite.max())
        if not close(lo, col["min"], 1e-12):
            problem(name, "min", lo, col["min"])
        if not close(hi, col["max"], 1e-12):
            problem(name, "max", hi, col["max"])
        if not close(float(finite.mean()), col["mean"], 1e-9):
            problem(name, "mean", float(finite.mean()), col["mean"])
        if not close(float(finite.std(ddof=1)), col["stddev"], 1e-9):
            problem(name, "stddev", float(finite.std(ddof=1)), col["stddev"])
        ordered = np.sort(finite)
        for q, v in col["quantiles"].items():
            if col["distinctExact"]:
                # Counted exactly (GROUP BY or quantile_cont): numpy's linear quantile.
                expected = float(np.quantile(finite, float(q)))
                if not close(expected, v, 1e-9):
                    problem(name, f"quantile {q} (exact)", expected, v)
                continue
            # With ties (integers) the value covers the ranks [F(v-), F(v)].
            below = np.searchsorted(ordered, v, side="left") / len(ordered)
            upto = np.searchsorted(ordered, v, side="right") / len(ordered)
            if not below - 0.01 <= float(q) <= upto + 0.01:
                problem(name, f"quantile {q}", float(np.quantile(finite, float(q))), v)
        counts, edges = np.histogram(finite, bins=len(col["histogram"]), range=(lo, hi))
        got = [b["count"] for b in col["histogram"]]
        if list(map(int, counts)) != got:
            problem(name, "histogram", list(map(int, counts)), got)
        keys = present.astype(float)
        keys = keys.map(lambda x: x if not math.isnan(x) else "nan")
    else:
        keys = present

    if kind == "string":
        lengths = present.str.len()
        for stat, value in (("minLength", lengths.min()), ("maxLength", lengths.max())):
            if int(value) != col[stat]:
                problem(name, stat, int(value), col[stat])
        if not close(float(lengths.mean()), col["meanLength"], 1e-9):
            problem(name, "meanLength", float(lengths.mean()), col["meanLength"])
        if present.min() != col["min"] or present.max() != col["max"]:
            problem(name, "min/max", [present.min(), present.max()], [col["min"], col["max"]])

    distinct = int(keys.nunique())
    if col["distinctExact"]:
        if distinct != col["approxDistinct"]:
            problem(name, "distinct (exact)", distinct, col["approxDistinct"])
    elif not close(distinct, col["approxDistinct"], 0.02):
        problem(name, "distinct (estimated, ±2%)", distinct, col["approxDistinct"])

    frequencies = present.value_counts()
    if col["topValues"] is None:
        # Left out only for columns whose first 200,000 values are all distinct.
        head = text.iloc[:200_000]
        if (head == "").any() or head.nunique() != len(head):
            problem(name, "topValues left out", "first rows repeat", None)
        continue
    reported = {t["value"]: t["count"] for t in col["topValues"]}
    for value, count in reported.items():
        # DuckDB prints numbers its own way (1.0 vs 1); match them numerically.
        if kind in ("integer", "float", "decimal"):
            numbers = present.astype(float)
            target = float(value)
            hits = np.isnan(numbers) if math.isnan(target) else numbers == target
            actual = int(hits.sum())
        else:
            actual = int(frequencies.get(value, 0))
        if actual != count:
            problem(name, f"top value {value!r}", actual, count)
    if kind == "string" and len(frequencies) > 10:
        top = frequencies.iloc[:3]
        if top.iloc[-1] > frequencies.iloc[10]:
            missing = [v for v in top.index if v not in reported]
            if missing:
                problem(name, "top values membership", list(top.index), list(reported))

print(json.dumps(problems))
