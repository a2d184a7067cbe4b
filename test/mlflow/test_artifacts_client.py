"""The unmodified MLflow Python client's artifact transfers against a Mobius server.

Run by test/mlflow-client.test.ts with MLFLOW_TRACKING_URI pointing at a Mobius server.
"""
import hashlib
import os
import uuid

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

CHUNK = 64 * 1024


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@pytest.fixture
def client():
    return MlflowClient()


def test_multipart_artifact_upload(client, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(CHUNK))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(CHUNK))
    # Count the client's real multipart calls, so a silent fallback to one PUT would fail.
    calls = {"create": [], "complete": 0}
    real_create = HttpArtifactRepository.create_multipart_upload
    real_complete = HttpArtifactRepository.complete_multipart_upload

    def create(self, *args, **kwargs):
        response = real_create(self, *args, **kwargs)
        calls["create"].append(len(response.credentials))
        return response

    def complete(self, *args, **kwargs):
        calls["complete"] += 1
        return real_complete(self, *args, **kwargs)

    monkeypatch.setattr(HttpArtifactRepository, "create_multipart_upload", create)
    monkeypatch.setattr(HttpArtifactRepository, "complete_multipart_upload", complete)

    big = tmp_path / "weights.bin"
    # 3.5 chunks of random bytes: four parts, the last one short.
    big.write_bytes(os.urandom(3 * CHUNK + CHUNK // 2))
    mlflow.set_experiment(f"mpu-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(big), artifact_path="model")

    assert calls == {"create": [4], "complete": 1}
    sizes = {f.path: f.file_size for f in client.list_artifacts(run.info.run_id, "model")}
    assert sizes == {"model/weights.bin": big.stat().st_size}
    downloaded = client.download_artifacts(run.info.run_id, "model/weights.bin", str(tmp_path / "out"))
    assert sha256_of(downloaded) == sha256_of(big)


def test_ui_get_artifact_download(tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("accuracy: 0.93\n")
    mlflow.set_experiment(f"get-artifact-{uuid.uuid4().hex[:8]}")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(report), artifact_path="eval")
    base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    res = requests.get(
        f"{base}/get-artifact", params={"run_uuid": run.info.run_id, "path": "eval/report.txt"}
    )
    assert res.status_code == 200
    assert res.text == "accuracy: 0.93\n"
    assert res.headers["Content-Disposition"] == 'attachment; filename="report.txt"'
    missing = requests.get(
        f"{base}/get-artifact", params={"run_id": run.info.run_id, "path": "eval/none.txt"}
    )
    assert missing.status_code == 404
