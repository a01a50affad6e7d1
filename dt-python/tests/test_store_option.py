"""`store="sqlite://PATH"` (or `"postgres://..."`): the backend keeps its state in a SQLite
file (or a PostgreSQL database), which a later backend on the same place serves again; bad
values, a file or database in use and an unreachable server raise at construction."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import uuid

import pytest

from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker

from durabletask_rs.testing import InMemoryOrchestrationBackend, create_test_backend


def hello(ctx: task.OrchestrationContext, name: str):
    return f"hello {name}"


def _run_hello(worker_address: str, client_address: str, name: str, instance_id: str) -> None:
    """Runs `hello` to completion: a worker at one address, the client at another (or the
    same)."""
    worker = dt_worker.TaskHubGrpcWorker(host_address=worker_address)
    worker.add_orchestrator(hello)
    client = dt_client.TaskHubGrpcClient(host_address=client_address)
    worker.start()
    try:
        client.schedule_new_orchestration(hello, input=name, instance_id=instance_id)
        state = client.wait_for_orchestration_completion(instance_id, timeout=30)
        assert state is not None and state.serialized_output == f'"hello {name}"'
    finally:
        worker.stop()
        client.close()


def _read_back(store: str, instance_id: str, output: str) -> None:
    """A new backend on `store` shows the instance completed with `output`."""
    with InMemoryOrchestrationBackend(port=0, store=store) as again:
        client = dt_client.TaskHubGrpcClient(host_address=again.address)
        try:
            state = client.get_orchestration_state(instance_id)
            assert state is not None
            assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
            assert state.serialized_output == output
        finally:
            client.close()


def test_state_survives_a_new_backend_on_the_same_file(tmp_path):
    store = f"sqlite://{tmp_path / 'dt.db'}"
    backend = create_test_backend(port=0, store=store)
    try:
        _run_hello(backend.address, backend.address, "disk", "kept-1")
    finally:
        backend.stop()
    del backend
    gc.collect()  # the backend holds its file open until it is gone
    _read_back(store, "kept-1", '"hello disk"')


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


def test_a_postgres_store_that_cannot_be_reached_raises_without_the_password():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(RuntimeError, match="cannot connect to PostgreSQL") as raised:
        InMemoryOrchestrationBackend(port=0, store=f"postgres://dt:hunter2@127.0.0.1:{port}/dt")
    assert "hunter2" not in str(raised.value)
    with pytest.raises(ValueError, match="not a PostgreSQL URL") as raised:
        InMemoryOrchestrationBackend(port=0, store="postgres://dt:hunter2@127.0.0.1:port/dt")
    assert "hunter2" not in str(raised.value)


def _postgres_database() -> tuple[str, str, str]:
    """A new database on DT_TEST_POSTGRES_URL's server (made with psql), or a skip: its URL,
    the server's URL and its name."""
    base = (os.environ.get("DT_TEST_POSTGRES_URL", "").strip()
            or "postgres://postgres@127.0.0.1:5432/test")
    name = f"dt_py_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    try:
        made = subprocess.run(["psql", base, "-qc", f"CREATE DATABASE {name}"],
                              capture_output=True, timeout=30).returncode == 0
    except FileNotFoundError:
        made = False
    if not made:
        if os.environ.get("DT_REQUIRE_POSTGRES", "").strip() == "1":
            pytest.fail("no PostgreSQL answers psql at DT_TEST_POSTGRES_URL", pytrace=False)
        pytest.skip("no PostgreSQL answers psql at DT_TEST_POSTGRES_URL")
    head, sep, query = base.partition("?")
    slash = head.find("/", head.find("://") + 3)
    return f"{head if slash < 0 else head[:slash]}/{name}{sep}{query}", base, name


def test_backends_share_a_postgres_database_and_state_survives_them():
    store, base, name = _postgres_database()
    try:
        backend = create_test_backend(port=0, store=store)
        # A second backend on the same database is the same task hub: its client's
        # orchestration runs on the first one's worker.
        other = create_test_backend(port=0, store=store)
        try:
            _run_hello(backend.address, other.address, "pg", "kept-pg")
        finally:
            backend.stop()
            other.stop()
        del backend, other
        gc.collect()  # the backend holds its session (and the database) until it is gone
        _read_back(store, "kept-pg", '"hello pg"')
    finally:
        gc.collect()
        subprocess.run(["psql", base, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                       capture_output=True, timeout=30)
