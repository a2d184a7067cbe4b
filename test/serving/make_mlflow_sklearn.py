"""Saves scikit-learn models as MLflow models and records scikit-learn's own answers.

Usage: python make_mlflow_sklearn.py OUT_DIR  (needs mlflow and scikit-learn)

Writes:
  OUT_DIR/logreg_proba/   LogisticRegression fitted on a DataFrame (column-based signature),
                          pyfunc predict = predict_proba
  OUT_DIR/gbc_predict/    GradientBoostingClassifier fitted on an ndarray (tensor signature),
                          pyfunc predict = predict (labels)
  OUT_DIR/gbr/            GradientBoostingRegressor (tensor signature, float predictions),
                          saved as a cloudpickle
  OUT_DIR/no_signature/   a model saved without a signature (Mobius refuses it)
  OUT_DIR/logreg.pkl      the LogisticRegression as a raw pickle (refused in-process)
  OUT_DIR/expected.json   {"columns", "x", "proba", "label", "regression"} on held-out rows
The TypeScript test (python-runtime.test.ts) serves the directories out of process and
compares. Deterministic: fixed seeds.
"""

import json
import pickle
import sys
import warnings
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import make_classification, make_regression
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    x, y = make_classification(
        n_samples=400, n_features=5, n_informative=4, n_redundant=0, n_classes=3, random_state=11
    )
    columns = ["age", "income", "tenure", "visits", "score"]
    frame = pd.DataFrame(x, columns=columns)
    train, test = frame[:300], frame[300:]

    logreg = LogisticRegression(max_iter=1000).fit(train, y[:300])
    mlflow.sklearn.save_model(
        logreg,
        out / "logreg_proba",
        signature=infer_signature(train, logreg.predict_proba(train)),
        pyfunc_predict_fn="predict_proba",
    )
    (out / "logreg.pkl").write_bytes(pickle.dumps(logreg))

    gbc = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=11)
    gbc.fit(train.to_numpy(), y[:300])
    # skops (MLflow 3's default format) refuses tree internals unless trusted by name.
    mlflow.sklearn.save_model(
        gbc,
        out / "gbc_predict",
        signature=infer_signature(train.to_numpy(), gbc.predict(train.to_numpy())),
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )

    xr, yr = make_regression(n_samples=300, n_features=4, noise=0.3, random_state=11)
    gbr = GradientBoostingRegressor(n_estimators=30, random_state=11).fit(xr[:200], yr[:200])
    # A pickled model (cloudpickle): exactly what the API process must never load itself.
    mlflow.sklearn.save_model(
        gbr,
        out / "gbr",
        signature=infer_signature(xr[:200], gbr.predict(xr[:200])),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
    )
    mlflow.sklearn.save_model(
        gbr, out / "no_signature", serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
    )

    expected = {
        "columns": columns,
        "x": test.to_numpy().tolist(),
        "proba": logreg.predict_proba(test).tolist(),
        "label": gbc.predict(test.to_numpy()).tolist(),
        "xr": xr[200:].tolist(),
        "regression": gbr.predict(xr[200:]).tolist(),
    }
    (out / "expected.json").write_text(json.dumps(expected))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
