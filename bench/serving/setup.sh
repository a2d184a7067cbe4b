#!/usr/bin/env bash
# Creates (or reuses) the Python venv of the serving benchmark (bench/serving/serving.ts,
# issue 6): scikit-learn and skl2onnx to train and export the model, and the system
# Python's MLflow (seen through --system-site-packages) for `mlflow models serve`, the
# peer. Idempotent. The venv lives in the bench scratch dir, never in the repo nor in the
# system Python (the MLflow compat tests need it unchanged).
#
# Usage: bash bench/serving/setup.sh [DIR]   (DIR defaults to .cache/bench-serving)
# Prints the venv's python path on its last line.
set -euo pipefail

# The versions CI's serving tests pin (test/serving/requirements.txt).
SKL2ONNX_VERSION=1.20.0
ONNX_VERSION=1.23.2

dir=${1:-.cache/bench-serving}
mkdir -p "$dir"
venv="$(cd "$dir" && pwd)/venv"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import skl2onnx, onnx, mlflow, sklearn" 2>/dev/null; then
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "skl2onnx==$SKL2ONNX_VERSION" "onnx==$ONNX_VERSION"
fi
"$venv/bin/python" -c 'import mlflow, sklearn, skl2onnx; print("mlflow", mlflow.__version__, "scikit-learn", sklearn.__version__, "skl2onnx", skl2onnx.__version__)' >&2
echo "$venv/bin/python"
