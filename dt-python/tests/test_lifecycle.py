"""The backend's life cycle through the SDK's client and worker: start, stop, restart, reset,
the SDK README fixture pattern on one port, and stop() returning while workers and clients are
still connected."""

from __future__ import annotations

import threading
import uuid

import pytest

from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker

from conftest import WAIT, accepts_connections, free_port, port_is_free, wait_until
from durabletask_rs.testing import InMemoryOrchestrationBackend, create_test_backend

Status = dt_client.OrchestrationStatus


def greet(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello, {name}!"


def hello(ctx: task.OrchestrationContext, name: str):
    return (yield ctx.call_activity(greet, input=name))


def waits_for_go(ctx: task.OrchestrationContext, _):
    return (yield ctx.wait_for_external_event("go"))


def run_hello(address: str, name: str = "World") -> str:
    with dt_worker.TaskHubGrpcWorker(host_address=address) as w, \
            dt_client.TaskHubGrpcClient(host_address=address) as c:
        w.add_orchestrator(hello)
        w.add_activity(greet)
        w.start()
        iid = c.schedule_new_orchestration(hello, input=name)
        state = c.wait_for_orchestration_completion(iid, timeout=WAIT)
        assert state is not None and state.runtime_status == Status.COMPLETED
        return state.get_output()


def test_start_returns_the_address_and_serves_the_sdk():
    backend = InMemoryOrchestrationBackend(port=0)
    assert backend.port == 0 and "stopped" in repr(backend)
    address = backend.start()
    try:
        assert backend.port != 0
        assert address == backend.address == f"localhost:{backend.port}"
        assert run_hello(address) == "Hello, World!"
    finally:
        backend.stop()


def test_fixed_port_is_honoured_and_freed_by_stop():
    port = free_port()
    backend = create_test_backend(port=port)
    assert backend.port == port and backend.address == f"localhost:{port}"
    assert accepts_connections(port)
    backend.stop()
    assert port_is_free(port)


def test_context_manager_starts_and_stops():
    with InMemoryOrchestrationBackend(port=0) as backend:
        port = backend.port
        assert accepts_connections(port)
    assert port_is_free(port)


def test_start_twice_returns_the_same_address_and_stop_twice_is_harmless():
    backend = create_test_backend(port=0)
    first = backend.address
    assert backend.start() == first
    backend.stop()
    backend.stop()
    backend.stop(grace=1.0)
    assert port_is_free(backend.port)


def test_stop_keeps_the_state_and_start_serves_it_again_on_the_same_port():
    backend = create_test_backend(port=0)
    port = backend.port
    with dt_client.TaskHubGrpcClient(host_address=backend.address) as c:
        iid = c.schedule_new_orchestration(waits_for_go, instance_id=f"kept-{uuid.uuid4().hex}")
        backend.stop()
        assert backend.start() == f"localhost:{port}"
        state = c.get_orchestration_state(iid)
        assert state is not None and state.runtime_status == Status.PENDING
    backend.stop()


def test_reset_forgets_everything_running_or_stopped():
    backend = create_test_backend(port=0)
    with dt_client.TaskHubGrpcClient(host_address=backend.address) as c:
        running = c.schedule_new_orchestration(waits_for_go)
        backend.reset()
        assert c.get_orchestration_state(running) is None
        stopped = c.schedule_new_orchestration(waits_for_go)
        backend.stop()
        backend.reset()
        backend.start()
        assert c.get_orchestration_state(stopped) is None
    backend.stop()


@pytest.mark.parametrize("grace", [None, 0, 5.0])
def test_stop_returns_while_a_worker_and_a_waiting_client_are_connected(grace):
    backend = create_test_backend(port=0)
    w = dt_worker.TaskHubGrpcWorker(host_address=backend.address)
    w.add_orchestrator(waits_for_go)
    w.start()
    c = dt_client.TaskHubGrpcClient(host_address=backend.address)
    iid = c.schedule_new_orchestration(waits_for_go)
    c.wait_for_orchestration_start(iid, timeout=WAIT)
    waiter_done = threading.Event()

    def wait_in_background() -> None:
        try:
            c.wait_for_orchestration_completion(iid, timeout=WAIT)
        except Exception:  # the server went away: what we expect
            pass
        waiter_done.set()

    threading.Thread(target=wait_in_background, daemon=True).start()
    stopper = threading.Thread(target=backend.stop, kwargs={"grace": grace}, daemon=True)
    stopper.start()
    stopper.join(timeout=WAIT)
    try:
        assert not stopper.is_alive(), "stop() did not return with a worker connected"
        assert port_is_free(backend.port)
        wait_until(waiter_done.is_set, "the client's wait to end")
    finally:
        w.stop()
        c.close()


# The SDK README's fixture, unchanged but for the import and a port picked at runtime: every
# test binds the same port right after the previous test's stop().
README_PORT = free_port()


@pytest.fixture
def backend():
    backend = create_test_backend(port=README_PORT)
    yield backend
    backend.stop()
    backend.reset()


@pytest.mark.parametrize("name", ["first", "second", "third"])
def test_readme_fixture_rebinds_the_same_port_each_test(backend, name):
    assert backend.port == README_PORT
    # A client left open, as the README's examples leave theirs, must not hold the port.
    c = dt_client.TaskHubGrpcClient(host_address=f"localhost:{README_PORT}")
    c.schedule_new_orchestration(waits_for_go, instance_id=f"open-{name}")
    assert run_hello(f"localhost:{README_PORT}", name) == f"Hello, {name}!"
