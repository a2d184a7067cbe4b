"""Logs and registers a scikit-learn model with the real MLflow client against a Mobius server.

Usage: python log_mlflow_sklearn.py TRACKING_URI OUT_JSON  (needs mlflow and scikit-learn)

Trains two LogisticRegressions (C=1 and C=0.01, so their answers differ) on a DataFrame,
logs each with mlflow.sklearn.log_model (pyfunc predict = predict_proba, a column-based
signature) as registered model 'churn' (versions 1 and 2), and writes {"model_id",
"columns", "x", "proba", "versions": [{"version", "model_id", "proba"}]}: scikit-learn's
own predict_proba on held-out rows (top-level: version 1's), for
serving-mlflow-registry.test.ts to compare the served answers with.
"""

import json
import sys
import warnings

import mlflow
import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")


def main(uri: str, out: str) -> None:
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("serving-python-runtime")
    x, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=5)
    columns = ["age", "income", "tenure", "visits"]
    frame = pd.DataFrame(x, columns=columns)
    train, test = frame[:200], frame[200:]
    versions = []
    for version, c in ((1, 1.0), (2, 0.01)):
        model = LogisticRegression(C=c, max_iter=1000).fit(train, y[:200])
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(train, model.predict_proba(train)),
                pyfunc_predict_fn="predict_proba",
                registered_model_name="churn",
            )
        versions.append(
            {"version": version, "model_id": info.model_id, "proba": model.predict_proba(test).tolist()}
        )
    with open(out, "w") as f:
        json.dump(
            {
                "model_id": versions[0]["model_id"],
                "columns": columns,
                "x": test.to_numpy().tolist(),
                "proba": versions[0]["proba"],
                "versions": versions,
            },
            f,
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
