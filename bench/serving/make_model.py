"""The serving benchmark's model: one scikit-learn logistic regression over 10 features,
saved twice from the same fitted object — as an MLflow model (for `mlflow models serve`)
and exported with skl2onnx (for Mobius). Deterministic (fixed seed).

Usage: python make_model.py OUT_DIR
Writes OUT_DIR/mlflow-model/ (MLmodel, model.pkl, ...), OUT_DIR/model.onnx and
OUT_DIR/sample.json ({"features": names, "rows": 64 rows, "proba": scikit-learn's answers}).
"""

import json
import shutil
import sys
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
from skl2onnx import to_onnx
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
x, y = make_classification(n_samples=2000, n_features=10, n_informative=6, random_state=3)
x = x.astype(np.float32)
features = [f"f{i}" for i in range(10)]
model = LogisticRegression(max_iter=1000).fit(pd.DataFrame(x, columns=features), y)

shutil.rmtree(out / "mlflow-model", ignore_errors=True)
mlflow.sklearn.save_model(
    model,
    str(out / "mlflow-model"),
    input_example=pd.DataFrame(x[:2], columns=features),
)
onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}})
(out / "model.onnx").write_bytes(onx.SerializeToString())
rows = x[:64]
(out / "sample.json").write_text(
    json.dumps(
        {
            "features": features,
            "rows": rows.tolist(),
            "proba": model.predict_proba(pd.DataFrame(rows, columns=features)).tolist(),
        }
    )
)
print("wrote", out)
