#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding Great Expectations, the peer of the
# expectation-suite benchmark (bench/data/checks.ts, issue 4). Idempotent: a venv that
# already has the pinned versions is left as it is.
#
# The venv lives in the bench scratch dir, never in the repo nor in the system Python
# (the MLflow compat tests need the system Python unchanged).
#
# Usage: bash bench/data/setup-ge.sh [DIR]   (DIR defaults to .cache/bench-data, gitignored)
# Prints the venv's python path on its last line.
set -euo pipefail

# Pinned: the newest GX Core on PyPI when the benchmark was written, and the pandas, numpy
# and pyarrow (read_parquet) that pip resolved with it then.
GE_VERSION=1.24.1
PANDAS_VERSION=3.1.1
NUMPY_VERSION=2.4.6
PYARROW_VERSION=26.0.1

dir=${1:-.cache/bench-data}
mkdir -p "$dir"
venv="$(cd "$dir" && pwd)/ge-venv"
python=${PYTHON:-python3.11}

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
have=$("$venv/bin/python" -c 'import importlib.metadata as m
try:
    print(*(m.version(p) for p in ("great_expectations", "pandas", "numpy", "pyarrow")))
except m.PackageNotFoundError:
    print("none")' 2>/dev/null || echo none)
if [[ "$have" != "$GE_VERSION $PANDAS_VERSION $NUMPY_VERSION $PYARROW_VERSION" ]]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "great_expectations==$GE_VERSION" \
    "pandas==$PANDAS_VERSION" "numpy==$NUMPY_VERSION" "pyarrow==$PYARROW_VERSION"
fi
"$venv/bin/python" -c 'import great_expectations as gx, pandas, pyarrow; print("great_expectations", gx.__version__, "pandas", pandas.__version__, "pyarrow", pyarrow.__version__)' >&2
echo "$venv/bin/python"
