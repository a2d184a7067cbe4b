"""An ONNX classifier for test/cli-evaluation.test.ts, and scikit-learn's own metrics.

Fits LogisticRegression on <dir>/data.csv (x1, x2, x3 → y), exports it with skl2onnx
(float32 input, zipmap=False so the outputs are a label and a probability tensor) to
<dir>/model.onnx, and writes sklearn.metrics on predict_proba (float64) to
<dir>/expected.json. Mobius runs the ONNX graph in float32, so the test compares with a
tolerance; the 1e-9 agreement on identical predictions is test/evaluation.test.ts.
"""
import json
import sys

import csv

import numpy as np
from skl2onnx import to_onnx
from sklearn import metrics as m
from sklearn.linear_model import LogisticRegression

directory = sys.argv[1]
with open(f"{directory}/data.csv") as f:
    rows = list(csv.DictReader(f))
x = np.array([[float(r["x1"]), float(r["x2"]), float(r["x3"])] for r in rows], dtype=np.float32)
y = np.array([int(r["y"]) for r in rows])
model = LogisticRegression(max_iter=1000).fit(x, y)
onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
with open(f"{directory}/model.onnx", "wb") as f:
    f.write(onx.SerializeToString())
p = model.predict_proba(x)
pred = p.argmax(axis=1)
json.dump(
    {
        "auc": m.roc_auc_score(y, p[:, 1]),
        "accuracy": m.accuracy_score(y, pred),
        "precision": m.precision_score(y, pred),
        "recall": m.recall_score(y, pred),
        "f1": m.f1_score(y, pred),
        "log_loss": m.log_loss(y, p),
    },
    open(f"{directory}/expected.json", "w"),
)
