"""The unmodified MLflow Python client against a Mobius server.

Run by test/mlflow-client.test.ts with MLFLOW_TRACKING_URI pointing at a Mobius server
on the backend under test. Each test asserts what a user of MLflow relies on.
"""
import math
import time
import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client():
    return MlflowClient()


def test_set_experiment_creates_then_reuses(client):
    name = unique("exp")
    first = mlflow.set_experiment(name)
    second = mlflow.set_experiment(name)
    assert first.experiment_id == second.experiment_id
    assert client.get_experiment_by_name(name).name == name
    assert client.get_experiment_by_name(unique("missing")) is None


def test_run_lifecycle_and_status(client):
    mlflow.set_experiment(unique("life"))
    with mlflow.start_run(run_name="first-run") as run:
        assert run.info.status == "RUNNING"
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.info.run_name == "first-run"
    assert finished.info.end_time is not None and finished.info.end_time >= finished.info.start_time
    run2 = client.create_run(finished.info.experiment_id)
    client.set_terminated(run2.info.run_id, status="KILLED")
    assert client.get_run(run2.info.run_id).info.status == "KILLED"


def test_params_metrics_tags(client):
    mlflow.set_experiment(unique("log"))
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"depth": 6, "loss": "log_loss"})
        mlflow.log_metric("loss", 0.7, step=0)
        mlflow.log_metric("loss", 0.4, step=1)
        mlflow.log_metrics({"acc": 0.91, "f1": 0.88}, step=1)
        mlflow.set_tag("team", "risk")
        mlflow.set_tags({"stage": "dev", "owner": "ana"})
    data = client.get_run(run.info.run_id).data
    assert data.params == {"lr": "0.01", "depth": "6", "loss": "log_loss"}
    assert data.metrics == {"loss": 0.4, "acc": 0.91, "f1": 0.88}
    assert {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")} == {
        "team": "risk",
        "stage": "dev",
        "owner": "ana",
    }


def test_nan_and_infinity_metrics_round_trip(client):
    mlflow.set_experiment(unique("nan"))
    with mlflow.start_run() as run:
        mlflow.log_metric("nan", float("nan"))
        mlflow.log_metric("pos_inf", float("inf"))
        mlflow.log_metric("neg_inf", float("-inf"))
        mlflow.log_metrics({"batch_nan": float("nan"), "batch_inf": float("inf")})
    metrics = client.get_run(run.info.run_id).data.metrics
    assert math.isnan(metrics["nan"]) and math.isnan(metrics["batch_nan"])
    assert metrics["pos_inf"] == math.inf and metrics["batch_inf"] == math.inf
    assert metrics["neg_inf"] == -math.inf
    history = client.get_metric_history(run.info.run_id, "nan")
    assert len(history) == 1 and math.isnan(history[0].value)


def test_metric_history_in_step_order(client):
    mlflow.set_experiment(unique("hist"))
    with mlflow.start_run() as run:
        for step in range(50):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=int(time.time() * 1000))
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(50))
    assert history[-1].value == pytest.approx(1.0 / 50)


def test_changing_a_param_is_refused(client):
    mlflow.set_experiment(unique("immutable"))
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(MlflowException) as raised:
            mlflow.log_param("lr", "0.2")
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "0.1" in raised.value.message and "0.2" in raised.value.message
    assert client.get_run(run.info.run_id).data.params["lr"] == "0.1"


def test_missing_run_is_resource_does_not_exist(client):
    with pytest.raises(MlflowException) as raised:
        client.get_run(uuid.uuid4().hex)
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_and_restore_run(client):
    experiment_id = mlflow.set_experiment(unique("del")).experiment_id
    run = client.create_run(experiment_id)
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    client.restore_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "active"


def test_experiment_rename_tag_delete_restore(client):
    name = unique("exp")
    experiment_id = client.create_experiment(name, tags={"team": "ml"})
    client.rename_experiment(experiment_id, name + "-renamed")
    client.set_experiment_tag(experiment_id, "owner", "ana")
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == name + "-renamed"
    assert experiment.tags == {"team": "ml", "owner": "ana"}
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert experiment_id in [e.experiment_id for e in deleted]
    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"


def test_duplicate_experiment_name_is_resource_already_exists(client):
    name = unique("dup")
    client.create_experiment(name)
    with pytest.raises(MlflowException) as raised:
        client.create_experiment(name)
    assert raised.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_nested_runs_record_their_parent(client):
    mlflow.set_experiment(unique("nested"))
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            pass
    tags = client.get_run(child.info.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id


def _seed_search_experiment(client):
    experiment_id = mlflow.set_experiment(unique("search")).experiment_id
    for i in range(6):
        with mlflow.start_run(run_name=f"r{i}"):
            mlflow.log_param("model", "gbm" if i % 2 == 0 else "linear")
            mlflow.log_metric("auc", 0.5 + i * 0.05)
            mlflow.set_tag("size", "big" if i >= 3 else "small")
    return experiment_id


def test_search_runs_filters_and_order_by(client):
    experiment_id = _seed_search_experiment(client)
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id],
        filter_string="params.model = 'gbm' and metrics.auc > 0.55",
        order_by=["metrics.auc DESC"],
        output_format="list",
    )
    assert [r.info.run_name for r in runs] == ["r4", "r2"]
    by_tag = client.search_runs([experiment_id], "tags.size = 'small'", order_by=["attributes.run_name ASC"])
    assert [r.info.run_name for r in by_tag] == ["r0", "r1", "r2"]
    liked = client.search_runs([experiment_id], "params.model LIKE 'lin%'")
    assert sorted(r.info.run_name for r in liked) == ["r1", "r3", "r5"]


def test_search_runs_with_or_and_parentheses(client):
    experiment_id = _seed_search_experiment(client)
    runs = client.search_runs(
        [experiment_id],
        "(params.model = 'linear' and metrics.auc > 0.6) or attributes.run_name = 'r0'",
        order_by=["metrics.auc ASC"],
    )
    assert [r.info.run_name for r in runs] == ["r0", "r3", "r5"]


def test_search_runs_pages_through_everything(client):
    experiment_id = _seed_search_experiment(client)
    first = client.search_runs([experiment_id], max_results=4)
    assert len(first) == 4 and first.token
    second = client.search_runs([experiment_id], max_results=4, page_token=first.token)
    assert len(second) == 2 and not second.token
    names = {r.info.run_name for r in list(first) + list(second)}
    assert names == {f"r{i}" for i in range(6)}


def test_search_runs_bad_filter_is_invalid_parameter_value(client):
    experiment_id = _seed_search_experiment(client)
    with pytest.raises(MlflowException) as raised:
        client.search_runs([experiment_id], "params.model > 1")
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"


def test_artifacts_upload_list_download(client, tmp_path):
    mlflow.set_experiment(unique("artifacts"))
    (tmp_path / "report.txt").write_text("accuracy 0.91\n")
    data = tmp_path / "data"
    (data / "nested").mkdir(parents=True)
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "nested" / "b.json").write_text('{"k": 1}')
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "report.txt"))
        mlflow.log_artifacts(str(data), artifact_path="data")
        mlflow.log_text("hello", "notes/hello.txt")
        mlflow.log_dict({"a": 1}, "config.json")
    run_id = run.info.run_id
    top = {f.path: f.is_dir for f in client.list_artifacts(run_id)}
    assert top == {"report.txt": False, "data": True, "notes": True, "config.json": False}
    nested = {f.path: f.file_size for f in client.list_artifacts(run_id, "data/nested")}
    assert nested == {"data/nested/b.json": 8}
    out = tmp_path / "out"
    out.mkdir()
    local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data", dst_path=str(out))
    assert (out / "data" / "a.csv").read_text() == "x,y\n1,2\n"
    assert (out / "data" / "nested" / "b.json").read_text() == '{"k": 1}'
    assert local.endswith("data")
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/hello.txt") == "hello"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config.json") == {"a": 1}


def test_log_model_sklearn_and_load_from_runs_uri(client):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(unique("models"))
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.2], [0.1, 0.8], [0.7, 0.1]])
    y = np.array([0, 1, 0, 1, 0, 1])
    model = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model")
    assert info.model_id.startswith("m-")
    logged = client.get_logged_model(info.model_id)
    assert logged.status == "READY" or str(logged.status).endswith("READY")
    assert logged.source_run_id == run.info.run_id
    for uri in (f"runs:/{run.info.run_id}/model", f"models:/{info.model_id}"):
        loaded = mlflow.sklearn.load_model(uri)
        assert (loaded.predict_proba(x) == model.predict_proba(x)).all()


def test_log_model_register_alias_and_load_by_alias(client):
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow.set_experiment(unique("registry-e2e"))
    name = unique("clf")
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.2], [0.1, 0.8], [0.7, 0.1]] * 5)
    y = np.array([0, 1, 0, 1, 0, 1] * 5)
    # A linear model: MLflow 3.17's skops loader refuses tree models unless trusted explicitly.
    model = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
    # Through REST the version is the proto string, as with an MLflow server.
    assert str(info.registered_model_version) == "1"
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", name)
    assert second.version == "2"
    client.set_registered_model_alias(name, "champion", "1")
    assert client.get_model_version_by_alias(name, "champion").version == "1"
    loaded = mlflow.sklearn.load_model(f"models:/{name}@champion")
    assert (loaded.predict_proba(x) == model.predict_proba(x)).all()
    by_version = mlflow.pyfunc.load_model(f"models:/{name}/2")
    assert (by_version.predict(x) == model.predict(x)).all()
