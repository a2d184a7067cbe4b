"""The unmodified MLflow Python client against Mobius' model registry.

Run by test/mlflow-client.test.ts like test_tracking_client.py: one Mobius server per
backend, MLFLOW_TRACKING_URI pointing at it.
"""
import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client():
    return MlflowClient()


def new_run(client):
    experiment_id = client.create_experiment(unique("reg"))
    return client.create_run(experiment_id)


def error_code(excinfo):
    return excinfo.value.error_code


def test_create_get_and_duplicate_registered_model(client):
    name = unique("model")
    created = client.create_registered_model(name, tags={"team": "risk"}, description="churn")
    assert created.name == name
    got = client.get_registered_model(name)
    assert got.description == "churn"
    assert got.tags == {"team": "risk"}
    assert got.creation_timestamp > 0
    with pytest.raises(MlflowException) as excinfo:
        client.create_registered_model(name)
    assert error_code(excinfo) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as excinfo:
        client.get_registered_model(unique("missing"))
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"


def test_model_versions_from_a_run(client):
    name = unique("model")
    client.create_registered_model(name)
    run = new_run(client)
    source = f"{run.info.artifact_uri}/model"
    v1 = client.create_model_version(name, source, run_id=run.info.run_id, tags={"k": "v"})
    v2 = client.create_model_version(name, source, run_id=run.info.run_id)
    assert (v1.version, v2.version) in (("1", "2"), (1, 2))
    got = client.get_model_version(name, "1")
    assert got.source == source
    assert got.run_id == run.info.run_id
    assert got.status == "READY"
    assert got.current_stage == "None"
    assert got.tags == {"k": "v"}
    assert client.get_model_version_download_uri(name, "1") == source
    found = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert sorted(int(v.version) for v in found) == [1, 2]
    by_name = client.search_model_versions(f"name = '{name}'")
    assert [int(v.version) for v in by_name] == [2, 1]
    updated = client.update_model_version(name, "2", description="second")
    assert updated.description == "second"
    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException) as excinfo:
        client.get_model_version(name, "2")
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"


def test_aliases(client):
    name = unique("model")
    client.create_registered_model(name)
    run = new_run(client)
    for _ in range(2):
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_alias(name, "champion", "1")
    client.set_registered_model_alias(name, "champion", "2")
    version = client.get_model_version_by_alias(name, "champion")
    assert int(version.version) == 2
    assert version.aliases == ["champion"]
    assert client.get_registered_model(name).aliases == {"champion": "2"}
    with pytest.raises(MlflowException) as excinfo:
        client.set_registered_model_alias(name, "latest", "1")
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
    client.delete_registered_model_alias(name, "champion")
    with pytest.raises(MlflowException) as excinfo:
        client.get_model_version_by_alias(name, "champion")
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"


def test_protected_alias_needs_a_passing_evaluation(client):
    # test/mlflow-client.test.ts runs this server with protectedAliases = [production], so
    # test_aliases above exercises the plain protocol with 'champion'. A protected alias on
    # a version without a passing `mobius models evaluate` is an MLflow error saying so.
    name = unique("gated")
    client.create_registered_model(name)
    run = new_run(client)
    client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    with pytest.raises(MlflowException) as excinfo:
        client.set_registered_model_alias(name, "production", "1")
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"
    assert "mobius models evaluate" in str(excinfo.value)
    assert "X-Mobius-Force" in str(excinfo.value)
    assert client.get_registered_model(name).aliases == {}


def test_search_registered_models(client):
    prefix = unique("search")
    for suffix in ["a", "b", "c"]:
        client.create_registered_model(f"{prefix}-{suffix}", tags={"suffix": suffix})
    tagged = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}%' AND tags.suffix = 'b'"
    )
    assert [m.name for m in tagged] == [f"{prefix}-b"]
    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'")
    assert [m.name for m in found] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    exact = client.search_registered_models(filter_string=f"name = '{prefix}-b'")
    assert [m.name for m in exact] == [f"{prefix}-b"]
    page = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}%'", max_results=2, order_by=["name DESC"]
    )
    assert [m.name for m in page] == [f"{prefix}-c", f"{prefix}-b"]
    assert page.token
    rest = client.search_registered_models(
        filter_string=f"name LIKE '{prefix}%'",
        max_results=2,
        order_by=["name DESC"],
        page_token=page.token,
    )
    assert [m.name for m in rest] == [f"{prefix}-a"]


def test_stage_transitions(client):
    name = unique("model")
    client.create_registered_model(name)
    run = new_run(client)
    for _ in range(2):
        client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.transition_model_version_stage(name, "1", "Production")
    moved = client.transition_model_version_stage(
        name, "2", "production", archive_existing_versions=True
    )
    assert moved.current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    latest = client.get_latest_versions(name, stages=["Production"])
    assert [int(v.version) for v in latest] == [2]
    with pytest.raises(MlflowException) as excinfo:
        client.transition_model_version_stage(name, "1", "Shipped")
    assert error_code(excinfo) == "INVALID_PARAMETER_VALUE"


def test_tags_rename_update_and_delete(client):
    name = unique("model")
    client.create_registered_model(name)
    run = new_run(client)
    client.create_model_version(name, f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_registered_model_tag(name, "owner", "ana")
    client.set_model_version_tag(name, "1", "validated", "yes")
    client.set_registered_model_alias(name, "prod", "1")
    client.update_registered_model(name, description="renamed soon")
    new_name = unique("renamed")
    client.rename_registered_model(name, new_name)
    model = client.get_registered_model(new_name)
    assert model.tags == {"owner": "ana"}
    assert model.description == "renamed soon"
    assert model.aliases == {"prod": "1"}
    assert client.get_model_version(new_name, "1").tags == {"validated": "yes"}
    client.delete_model_version_tag(new_name, "1", "validated")
    client.delete_registered_model_tag(new_name, "owner")
    assert client.get_model_version(new_name, "1").tags == {}
    assert client.get_registered_model(new_name).tags == {}
    client.delete_registered_model(new_name)
    with pytest.raises(MlflowException) as excinfo:
        client.get_registered_model(new_name)
    assert error_code(excinfo) == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_model_versions(f"name = '{new_name}'") == []

