"""MLflow 3 evaluation datasets through the unmodified MLflow client against Mobius.

Run by test/mlflow-client.test.ts with MLFLOW_TRACKING_URI pointing at a Mobius server.
Covers what a GenAI user does: create a dataset in an experiment, merge records (the
client's own upsert path), read them back as a DataFrame, search, tag, link and unlink
experiments, delete records and the dataset; and the errors a typo or bad data meets.
"""
import uuid

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.genai.datasets import (
    add_dataset_to_experiments,
    create_dataset,
    delete_dataset,
    get_dataset,
    remove_dataset_from_experiments,
    search_datasets,
)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client():
    return MlflowClient()


def test_create_merge_records_and_read_them_back(client):
    exp = client.create_experiment(unique("evalds"))
    name = unique("qa")
    dataset = create_dataset(name=name, experiment_id=exp, tags={"team": "ml"})
    assert dataset.name == name
    assert dataset.experiment_ids == [exp]
    assert dataset.tags["team"] == "ml"

    dataset.merge_records(
        [
            {"inputs": {"question": "What is MLflow?"}, "expectations": {"answer": "a platform"}},
            {"inputs": {"question": "What is Python?"}},
        ]
    )
    # The same inputs again: merged into the stored record, not a third one.
    dataset.merge_records(
        [{"inputs": {"question": "What is MLflow?"}, "expectations": {"source": "docs"}}]
    )

    fresh = get_dataset(dataset_id=dataset.dataset_id)
    df = fresh.to_df()
    assert len(df) == 2
    by_question = {row["inputs"]["question"]: row for _, row in df.iterrows()}
    assert by_question["What is MLflow?"]["expectations"] == {
        "answer": "a platform",
        "source": "docs",
    }
    # The client infers the source: records with expectations are HUMAN, others CODE.
    assert by_question["What is Python?"]["source_type"] == "CODE"
    assert by_question["What is MLflow?"]["source_type"] == "HUMAN"
    assert '"num_records": 2' in fresh.profile
    assert '"question": "string"' in fresh.schema
    assert fresh.digest != dataset.digest

    # By name, as get_dataset(name=…) searches for it.
    assert get_dataset(name=name).dataset_id == dataset.dataset_id

    record_ids = df["dataset_record_id"].tolist()
    assert fresh.delete_records(record_ids[:1]) == 1
    assert len(get_dataset(dataset_id=dataset.dataset_id).to_df()) == 1


def test_search_by_experiment_filter_and_order(client):
    exp1 = client.create_experiment(unique("search"))
    exp2 = client.create_experiment(unique("search"))
    prefix = unique("s")
    create_dataset(name=f"{prefix}-b", experiment_id=[exp1], tags={"team": "ml"})
    create_dataset(name=f"{prefix}-a", experiment_id=[exp1, exp2], tags={"team": "data"})
    create_dataset(name=f"{prefix}-c", experiment_id=[exp2], tags={"team": "ml"})

    names = [d.name for d in search_datasets(experiment_ids=[exp1], order_by=["name ASC"])]
    assert names == [f"{prefix}-a", f"{prefix}-b"]
    found = client.search_datasets(
        filter_string=f"tags.team = 'ml' AND name LIKE '{prefix}%'", order_by=["name DESC"]
    )
    assert [d.name for d in found] == [f"{prefix}-c", f"{prefix}-b"]

    page = client.search_datasets(
        filter_string=f"name LIKE '{prefix}%'", order_by=["name"], max_results=2
    )
    assert [d.name for d in page] == [f"{prefix}-a", f"{prefix}-b"]
    rest = client.search_datasets(
        filter_string=f"name LIKE '{prefix}%'",
        order_by=["name"],
        max_results=2,
        page_token=page.token,
    )
    assert [d.name for d in rest] == [f"{prefix}-c"]
    assert not rest.token

    with pytest.raises(MlflowException, match="invalid attribute 'digest'") as error:
        client.search_datasets(filter_string="digest = 'x'")
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_tags_and_experiment_links(client):
    exp1 = client.create_experiment(unique("links"))
    exp2 = client.create_experiment(unique("links"))
    dataset = client.create_dataset(name=unique("tags"), experiment_id=exp1, tags={"env": "dev"})

    client.set_dataset_tags(dataset.dataset_id, {"env": "prod", "owner": "ana"})
    client.delete_dataset_tag(dataset.dataset_id, "owner")
    assert client.get_dataset(dataset.dataset_id).tags["env"] == "prod"
    assert "owner" not in client.get_dataset(dataset.dataset_id).tags

    linked = add_dataset_to_experiments(dataset.dataset_id, [exp1, exp2])
    assert sorted(linked.experiment_ids) == sorted([exp1, exp2])
    unlinked = remove_dataset_from_experiments(dataset.dataset_id, [exp1])
    assert unlinked.experiment_ids == [exp2]
    assert client.get_dataset(dataset.dataset_id).experiment_ids == [exp2]

    with pytest.raises(MlflowException, match="No Experiment with id=404404") as error:
        client.add_dataset_to_experiments(dataset.dataset_id, ["404404"])
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_delete_and_unknown_ids(client):
    dataset = client.create_dataset(name=unique("gone"))
    delete_dataset(dataset_id=dataset.dataset_id)
    with pytest.raises(MlflowException, match="not found") as error:
        client.get_dataset(dataset.dataset_id)
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException, match="not found"):
        client.set_dataset_tags("d-00000000000000000000000000000000", {"a": "b"})


def test_malformed_records_are_refused_and_nothing_is_stored(client):
    dataset = create_dataset(name=unique("bad"))
    store = client._tracking_client.store
    with pytest.raises(MlflowException, match=r"records\[1\]\.inputs must be a JSON object") as error:
        store.upsert_dataset_records(
            dataset.dataset_id, [{"inputs": {"q": "fine"}}, {"inputs": ["not", "an", "object"]}]
        )
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="source_type"):
        store.upsert_dataset_records(
            dataset.dataset_id, [{"inputs": {"q": 1}, "source": {"source_type": "robot"}}]
        )
    assert len(get_dataset(dataset_id=dataset.dataset_id).to_df()) == 0
