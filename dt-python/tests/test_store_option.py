"""`store="sqlite://PATH"`: the backend keeps its state in a SQLite file, which a later
backend on the same path serves again; bad values and a file in use raise at construction."""

from __future__ import annotations

import gc

import pytest

from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker

from durabletask_rs.testing import InMemoryOrchestrationBackend, create_test_backend


def hello(ctx: task.OrchestrationContext, name: str):
    return f"hello {name}"


def test_state_survives_a_new_backend_on_the_same_file(tmp_path):
    store = f"sqlite://{tmp_path / 'dt.db'}"
    backend = create_test_backend(port=0, store=store)
    worker = dt_worker.TaskHubGrpcWorker(host_address=backend.address)
    worker.add_orchestrator(hello)
    client = dt_client.TaskHubGrpcClient(host_address=backend.address)
    worker.start()
    try:
        client.schedule_new_orchestration(hello, input="disk", instance_id="kept-1")
        state = client.wait_for_orchestration_completion("kept-1", timeout=30)
        assert state is not None and state.serialized_output == '"hello disk"'
    finally:
        worker.stop()
        client.close()
        backend.stop()
    del backend
    gc.collect()  # the backend holds its file open until it is gone

    with InMemoryOrchestrationBackend(port=0, store=store) as again:
        client = dt_client.TaskHubGrpcClient(host_address=again.address)
        try:
            state = client.get_orchestration_state("kept-1")
            assert state is not None
            assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
            assert state.serialized_output == '"hello disk"'
        finally:
            client.close()


def test_memory_is_the_default_and_can_be_named():
    with InMemoryOrchestrationBackend(port=0, store="memory") as backend:
        assert backend.port > 0


@pytest.mark.parametrize("bad", ["", "sqlite://", "postgres:", "dt.db"])
def test_a_store_that_names_nothing_is_a_value_error(bad):
    with pytest.raises(ValueError, match="unknown store"):
        InMemoryOrchestrationBackend(port=0, store=bad)


def test_a_store_that_is_not_a_str_is_a_type_error(tmp_path):
    with pytest.raises(TypeError, match="store must be a str"):
        InMemoryOrchestrationBackend(port=0, store=tmp_path / "dt.db")  # type: ignore[arg-type]


def test_a_file_in_use_or_not_a_store_raises(tmp_path):
    path = tmp_path / "dt.db"
    first = InMemoryOrchestrationBackend(port=0, store=f"sqlite://{path}")
    with pytest.raises(RuntimeError, match="in use"):
        InMemoryOrchestrationBackend(port=0, store=f"sqlite://{path}")
    del first
    gc.collect()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x5a" * 8192)
    with pytest.raises(RuntimeError, match="not a dt-server store"):
        InMemoryOrchestrationBackend(port=0, store=f"sqlite://{garbage}")
    with pytest.raises(RuntimeError, match="cannot open the store"):
        InMemoryOrchestrationBackend(port=0, store=f"sqlite://{tmp_path / 'missing' / 'dt.db'}")
