"""Exports scikit-learn models with skl2onnx and records scikit-learn's own answers.

Usage: python make_sklearn_onnx.py OUT_DIR

Writes, for each model (gbc = GradientBoostingClassifier, logreg = LogisticRegression,
gbr = GradientBoostingRegressor):
  OUT_DIR/<name>.onnx           the skl2onnx export (zipmap=False: plain tensors)
  OUT_DIR/<name>.expected.json  {"x": rows, "proba"|"prediction": scikit-learn's answers}
The TypeScript test (onnx-sklearn.test.ts) serves the .onnx files and compares.
Deterministic: fixed seeds, so a failure reproduces.
"""

import json
import sys
from pathlib import Path

import numpy as np
from skl2onnx import to_onnx
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    # 3 classes so the multi-class tree ensemble (softmax over per-class sums) is exercised.
    x, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=7
    )
    x = x.astype(np.float32)
    train, test = x[:400], x[400:]
    models = {
        "gbc": GradientBoostingClassifier(n_estimators=40, max_depth=3, random_state=7),
        "logreg": LogisticRegression(max_iter=500),
    }
    for name, model in models.items():
        model.fit(train, y[:400])
        onx = to_onnx(model, train[:1], options={id(model): {"zipmap": False}})
        (out / f"{name}.onnx").write_bytes(onx.SerializeToString())
        expected = {
            "x": test.tolist(),
            "classes": [int(c) for c in model.classes_],
            "proba": model.predict_proba(test).tolist(),
            "label": [int(v) for v in model.predict(test)],
        }
        (out / f"{name}.expected.json").write_text(json.dumps(expected))
        if name == "logreg":
            # The default export ends in ZipMap (a sequence of maps): Mobius must refuse it with advice.
            zipped = to_onnx(model, train[:1])
            (out / "logreg_zipmap.onnx").write_bytes(zipped.SerializeToString())
    # Binary logistic regression: skl2onnx exports a different graph (one score column).
    xb, yb = make_classification(n_samples=600, n_features=5, random_state=11)
    xb = xb.astype(np.float32)
    lr2 = LogisticRegression(max_iter=500).fit(xb[:400], yb[:400])
    onx = to_onnx(lr2, xb[:1], options={id(lr2): {"zipmap": False}})
    (out / "logreg_binary.onnx").write_bytes(onx.SerializeToString())
    (out / "logreg_binary.expected.json").write_text(
        json.dumps(
            {
                "x": xb[400:].tolist(),
                "classes": [int(c) for c in lr2.classes_],
                "proba": lr2.predict_proba(xb[400:]).tolist(),
                "label": [int(v) for v in lr2.predict(xb[400:])],
            }
        )
    )
    xr, yr = make_regression(n_samples=600, n_features=4, noise=0.1, random_state=3)
    xr = xr.astype(np.float32)
    gbr = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=3)
    gbr.fit(xr[:400], yr[:400])
    onx = to_onnx(gbr, xr[:1])
    (out / "gbr.onnx").write_bytes(onx.SerializeToString())
    (out / "gbr.expected.json").write_text(
        json.dumps({"x": xr[400:].tolist(), "prediction": gbr.predict(xr[400:]).tolist()})
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_sklearn_onnx.py OUT_DIR")
    main(Path(sys.argv[1]))
