"""Exports XGBoost and LightGBM models with onnxmltools and records their own answers.

Usage: python make_boosters_onnx.py OUT_DIR

Writes, for each model (xgb_clf = XGBClassifier with 3 classes, lgbm_clf = LGBMClassifier,
binary, xgb_reg = XGBRegressor, lgbm_reg = LGBMRegressor):
  OUT_DIR/<name>.onnx           the onnxmltools export (ai.onnx.ml TreeEnsemble*; no ZipMap)
  OUT_DIR/<name>.expected.json  {"x": rows, "proba"|"prediction": the library's answers}
The TypeScript test (onnx-sklearn.test.ts) serves the .onnx files and compares.
Deterministic: fixed seeds and one thread, so a failure reproduces.
"""

import json
import sys
from pathlib import Path

import lightgbm
import numpy as np
import xgboost
from onnxmltools import convert_lightgbm, convert_xgboost
from onnxmltools.convert.common.data_types import FloatTensorType
from sklearn.datasets import make_classification, make_regression


def save(out: Path, name: str, onx, x: np.ndarray, **answers) -> None:
    (out / f"{name}.onnx").write_bytes(onx.SerializeToString())
    (out / f"{name}.expected.json").write_text(
        json.dumps({"x": x.tolist(), **{k: v.tolist() for k, v in answers.items()}})
    )


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=5
    )
    x = x.astype(np.float32)
    features = [("input", FloatTensorType([None, 6]))]
    xgb_clf = xgboost.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1, random_state=5)
    xgb_clf.fit(x[:400], y[:400])
    save(
        out,
        "xgb_clf",
        convert_xgboost(xgb_clf, initial_types=features, target_opset=15),
        x[400:],
        proba=xgb_clf.predict_proba(x[400:]),
    )

    xb, yb = make_classification(n_samples=600, n_features=5, random_state=9)
    xb = xb.astype(np.float32)
    lgbm_clf = lightgbm.LGBMClassifier(n_estimators=30, num_leaves=15, n_jobs=1, verbose=-1)
    lgbm_clf.fit(xb[:400], yb[:400])
    save(
        out,
        "lgbm_clf",
        convert_lightgbm(
            lgbm_clf,
            initial_types=[("input", FloatTensorType([None, 5]))],
            zipmap=False,
            target_opset=15,
        ),
        xb[400:],
        proba=lgbm_clf.predict_proba(xb[400:]),
    )

    xr, yr = make_regression(n_samples=600, n_features=4, noise=0.1, random_state=4)
    xr = xr.astype(np.float32)
    regression = [("input", FloatTensorType([None, 4]))]
    xgb_reg = xgboost.XGBRegressor(n_estimators=30, max_depth=3, n_jobs=1, random_state=4)
    xgb_reg.fit(xr[:400], yr[:400])
    save(
        out,
        "xgb_reg",
        convert_xgboost(xgb_reg, initial_types=regression, target_opset=15),
        xr[400:],
        prediction=xgb_reg.predict(xr[400:]),
    )
    lgbm_reg = lightgbm.LGBMRegressor(n_estimators=30, num_leaves=15, n_jobs=1, verbose=-1)
    lgbm_reg.fit(xr[:400], yr[:400])
    save(
        out,
        "lgbm_reg",
        convert_lightgbm(lgbm_reg, initial_types=regression, target_opset=15),
        xr[400:],
        prediction=lgbm_reg.predict(xr[400:]),
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_boosters_onnx.py OUT_DIR")
    main(Path(sys.argv[1]))
