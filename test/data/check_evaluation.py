"""Independent evaluation metrics for test/evaluation.test.ts.

Reads <dir>/data.csv, the Mobius JSON linear models <dir>/<name>.json and what Mobius'
runtime predicted for every row (<dir>/<name>.pred.json, flat row-major). It recomputes
each model's probabilities (or predictions) with numpy in float64 and fails when Mobius'
differ by more than 1e-12; then, on Mobius' predictions (the metrics must agree on the same
numbers: scores equal in exact arithmetic can differ by an ulp between the two
computations, which moves ties in AUC), it computes the metrics with
scikit-learn (roc_auc_score, accuracy_score, precision/recall/f1_score, log_loss,
mean_squared_error, mean_absolute_error, r2_score); ECE is recomputed with numpy
(10 equal-width bins of the top-label confidence, right-closed). Prints JSON:
{name: {"overall": {...}, "slices": {value: {...}}}} for slices of the 'region' column.
"""
import json
import sys

import numpy as np
import pandas as pd
from sklearn import metrics as m


def probabilities(model, x):
    w = np.asarray(model["coefficients"], dtype=np.float64)
    b = np.asarray(model["intercept"], dtype=np.float64)
    if w.ndim == 1:
        z = x @ w + b
        if model["task"] == "regression":
            return z
        p1 = 1.0 / (1.0 + np.exp(-z))
        return np.column_stack([1 - p1, p1])
    z = x @ w.T + b
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ece(y, p):
    conf = p.max(axis=1)
    pred = p.argmax(axis=1)
    bins = np.clip(np.ceil(conf * 10).astype(int) - 1, 0, 9)
    total = 0.0
    for b in range(10):
        sel = bins == b
        if sel.any():
            total += sel.mean() * abs((pred[sel] == y[sel]).mean() - conf[sel].mean())
    return total


def classification(y, p, k):
    pred = p.argmax(axis=1)
    out = {
        "accuracy": m.accuracy_score(y, pred),
        "log_loss": m.log_loss(y, p, labels=list(range(k))),
        "ece": ece(y, p),
    }
    if k == 2:
        out["auc"] = m.roc_auc_score(y, p[:, 1]) if len(set(y)) == 2 else None
        out["precision"] = m.precision_score(y, pred, zero_division=0)
        out["recall"] = m.recall_score(y, pred, zero_division=0)
        out["f1"] = m.f1_score(y, pred, zero_division=0)
    else:
        out["auc"] = (
            m.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(range(k)))
            if len(set(y)) == k
            else None
        )
        out["precision"] = m.precision_score(y, pred, average="macro", zero_division=0)
        out["recall"] = m.recall_score(y, pred, average="macro", zero_division=0)
        out["f1"] = m.f1_score(y, pred, average="macro", zero_division=0)
    return out


def regression(y, pred):
    return {
        "rmse": float(np.sqrt(m.mean_squared_error(y, pred))),
        "mae": m.mean_absolute_error(y, pred),
        "r2": m.r2_score(y, pred),
    }


def main():
    directory, specs = sys.argv[1], json.loads(sys.argv[2])
    data = pd.read_csv(f"{directory}/data.csv")
    result = {}
    for name, label in specs.items():
        with open(f"{directory}/{name}.json") as f:
            model = json.load(f)
        x = data[model["features"]].to_numpy(dtype=np.float64)
        out = probabilities(model, x)
        with open(f"{directory}/{name}.pred.json") as f:
            mobius = np.asarray(json.load(f), dtype=np.float64).reshape(out.shape)
        diff = float(np.max(np.abs(mobius - out)))
        if diff > 1e-12:
            sys.exit(f"{name}: Mobius' predictions differ from numpy's by {diff}")
        out = mobius

        def score(rows):
            if model["task"] == "regression":
                return regression(data[label].to_numpy(dtype=np.float64)[rows], out[rows])
            classes = [str(c) for c in model["classes"]]
            y = np.array([classes.index(str(v)) for v in data[label]])
            return classification(y[rows], out[rows], len(classes))

        everything = np.ones(len(data), dtype=bool)
        result[name] = {
            "overall": score(everything),
            "slices": {
                str(v): score((data["region"] == v).to_numpy()) for v in sorted(data["region"].unique())
            },
        }
    json.dump(result, sys.stdout)


main()
