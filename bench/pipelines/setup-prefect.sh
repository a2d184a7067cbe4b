#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding Prefect, the peer of the pipeline overhead
# benchmark (bench/pipelines/overhead.ts, issue 5). Idempotent: a venv that already has
# the pinned version is left as it is.
#
# The venv lives outside the repo and never in the system Python (the MLflow compat tests
# need the system Python unchanged).
#
# Usage: bash bench/pipelines/setup-prefect.sh [DIR]
#   DIR defaults to /work/.cache/bench-pipelines when /work/.cache exists, else
#   .cache/bench-pipelines (gitignored).
# Prints the venv's python path on its last line.
set -euo pipefail

# Pinned: the newest Prefect 3 whose dependencies resolve from the package index this
# machine sees (3.9.0 and 3.9.1 need certifi >= 2026.10.19, not published there yet); pip
# resolves the rest (`pip freeze` in the venv shows what was installed), except FastAPI:
# 0.155 dropped `Body(min_items=…)`, which Prefect 3.8.8's API server still passes (its
# temporary server then fails to import), so it is pinned to a release that works.
PREFECT_VERSION=3.8.8
FASTAPI_VERSION=0.152.0

if [[ -d /work/.cache ]]; then default=/work/.cache/bench-pipelines; else default=.cache/bench-pipelines; fi
dir=${1:-$default}
mkdir -p "$dir"
venv="$(cd "$dir" && pwd)/prefect-venv"
python=${PYTHON:-python3.11}

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
have=$("$venv/bin/python" -c 'import importlib.metadata as m
try:
    print(m.version("prefect"), m.version("fastapi"))
except m.PackageNotFoundError:
    print("none")' 2>/dev/null || echo none)
if [[ "$have" != "$PREFECT_VERSION $FASTAPI_VERSION" ]]; then
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet "prefect==$PREFECT_VERSION" "fastapi==$FASTAPI_VERSION"
fi
"$venv/bin/python" -c 'import prefect, fastapi, prefect.server.api.server; print("prefect", prefect.__version__, "fastapi", fastapi.__version__)' >&2
echo "$venv/bin/python"
