"""MLflow 3 tracing with the unmodified MLflow client against a Mobius server.

`@mlflow.trace` sends each span over OTLP (`/v1/traces`, after `GET /version`) as it
ends and registers the finished trace (StartTraceV3); these tests read the traces back
the ways a user does: get_trace, search_traces, trace tags, linking to runs, delete.
"""
import uuid

import mlflow
import pytest
from mlflow import MlflowClient


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client():
    return MlflowClient()


@mlflow.trace(span_type="CHAIN")
def answer(question):
    docs = retrieve(question)
    return f"{question} -> {len(docs)} docs"


@mlflow.trace(span_type="RETRIEVER")
def retrieve(question):
    mlflow.get_current_active_span().set_attributes({"k": 3, "ratio": 0.5, "tags": ["a", "b"]})
    return ["d1", "d2"]


def _traced(experiment_name):
    experiment_id = mlflow.set_experiment(experiment_name).experiment_id
    assert answer("why") == "why -> 2 docs"
    trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    return experiment_id, trace_id


def test_traced_function_spans_round_trip(client):
    _, trace_id = _traced(unique("trace"))
    trace = mlflow.get_trace(trace_id)
    assert trace is not None
    assert trace.info.trace_id == trace_id
    assert trace.info.state.value == "OK"
    assert trace.info.tags["mlflow.trace.spansLocation"] == "TRACKING_STORE"
    spans = {s.name: s for s in trace.data.spans}
    assert set(spans) == {"answer", "retrieve"}
    root, child = spans["answer"], spans["retrieve"]
    assert root.parent_id is None
    assert child.parent_id == root.span_id
    assert root.inputs == {"question": "why"}
    assert root.outputs == "why -> 2 docs"
    assert child.span_type == "RETRIEVER"
    assert child.get_attribute("k") == 3
    assert child.get_attribute("ratio") == 0.5
    assert child.get_attribute("tags") == ["a", "b"]
    assert child.outputs == ["d1", "d2"]
    assert root.start_time_ns <= child.start_time_ns <= child.end_time_ns <= root.end_time_ns


def test_search_traces_and_tags(client):
    experiment_id, trace_id = _traced(unique("search"))
    client.set_trace_tag(trace_id, "team", "search")
    found = mlflow.search_traces(
        locations=[experiment_id], filter_string="tags.team = 'search'", return_type="list"
    )
    assert [t.info.trace_id for t in found] == [trace_id]
    assert {s.name for s in found[0].data.spans} == {"answer", "retrieve"}
    assert found[0].info.tags["team"] == "search"
    client.delete_trace_tag(trace_id, "team")
    assert "team" not in client.get_trace(trace_id).info.tags
    none = mlflow.search_traces(
        locations=[experiment_id], filter_string="tags.team = 'search'", return_type="list"
    )
    assert none == []


def test_traces_inside_a_run_are_found_by_run(client):
    experiment_id = mlflow.set_experiment(unique("in-run")).experiment_id
    with mlflow.start_run() as run:
        answer("in run")
        trace_id = mlflow.get_last_active_trace_id()
    mlflow.flush_trace_async_logging()
    found = mlflow.search_traces(locations=[experiment_id], run_id=run.info.run_id, return_type="list")
    assert [t.info.trace_id for t in found] == [trace_id]


def test_delete_traces(client):
    experiment_id, trace_id = _traced(unique("delete"))
    deleted = client.delete_traces(experiment_id, trace_ids=[trace_id])
    assert deleted == 1
    assert mlflow.search_traces(locations=[experiment_id], return_type="list") == []
