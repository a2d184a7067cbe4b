#!/usr/bin/env bash
# Runs MLflow's own live-server tests (tests/tracking/test_rest_tracking.py and
# test_model_registry.py) against `mobius server`, MLflow's server launcher replaced by
# test/mlflow-compat/mobius_launcher.py. MLflow's code is never copied into this repository:
# point the script at an MLflow source tree, or at a git clone plus a commit to export.
#
#   scripts/mlflow-compat.sh <mlflow-source-dir> [pytest args…]
#   MLFLOW_COMMIT=<sha> scripts/mlflow-compat.sh <mlflow-git-dir> [pytest args…]
#
# Prints pytest's summary; a JUnit report goes to ${COMPAT_REPORT:-/tmp/mlflow-compat.xml}.
# MOBIUS_COMPAT_PG=postgres://… runs each test on its own PostgreSQL schema instead of SQLite.
set -euo pipefail
src=${1:?usage: scripts/mlflow-compat.sh <mlflow-source-dir | mlflow-git-dir> [pytest args…]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)

if [ -n "${MLFLOW_COMMIT:-}" ]; then
  tree=$(mktemp -d /tmp/mlflow-src-XXXX)
  git -C "$src" archive "$MLFLOW_COMMIT" tests pyproject.toml | tar x -C "$tree"
  src=$tree
fi
[ -f "$src/tests/tracking/integration_test_utils.py" ] ||
  { echo "no MLflow test tree at $src (expected tests/tracking/integration_test_utils.py)" >&2; exit 2; }

python3 -c 'import mlflow, pytest, pytest_timeout' 2>/dev/null ||
  pip install -q -r "$root/test/mlflow-compat/requirements.txt"
[ -f "$root/dist/cli/main.js" ] || (cd "$root" && npm run build --silent)

export PYTHONPATH="$root/test/mlflow-compat${PYTHONPATH:+:$PYTHONPATH}"
export MOBIUS_BIN="$root/bin/mobius.js"
# Fail fast instead of retrying a 5xx for minutes.
export MLFLOW_HTTP_REQUEST_MAX_RETRIES=0 MLFLOW_HTTP_REQUEST_TIMEOUT=30
cd "$src"
if [ $# -eq 0 ]; then
  set -- tests/tracking/test_rest_tracking.py tests/tracking/test_model_registry.py
fi
exec python3 -m pytest -p mobius_launcher -p no:cacheprovider -o addopts="" -q -rfE \
  --timeout 120 --junitxml="${COMPAT_REPORT:-/tmp/mlflow-compat.xml}" "$@"
