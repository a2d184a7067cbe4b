"""Writes test/fixtures/serving/: a small binary LogisticRegression exported with skl2onnx
(iris.onnx) and the same model in Mobius' JSON format (iris.mobius.json), so the HTTP
tests run without Python and can check that the two runtimes agree.

Usage: python make_fixtures.py OUT_DIR   (committed output; rerun only to change it)
"""

import json
import sys
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
iris = load_iris()
x = iris.data.astype(np.float32)
y = (iris.target == 2).astype(np.int64)  # virginica or not: binary
model = LogisticRegression(max_iter=1000).fit(x, y)
onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
(out / "iris.onnx").write_bytes(onx.SerializeToString())
features = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
(out / "iris.mobius.json").write_text(
    json.dumps(
        {
            "format": "mobius-linear",
            "task": "classification",
            "features": features,
            "coefficients": model.coef_[0].tolist(),
            "intercept": float(model.intercept_[0]),
            "classes": [0, 1],
        },
        indent=2,
    )
    + "\n"
)
