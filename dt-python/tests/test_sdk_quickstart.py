"""The Durable Task SDK's testing Quick Start (`durabletask/testing/README.md` in
durabletask-python) with the import changed from `durabletask.testing` to
`durabletask_rs.testing`. One other change: the README's fixed port 50051 becomes a port picked
free at import (`PORT`), since other test runs share this machine. The README is not shipped in
the SDK's wheel or sdist, so its examples are written out here.

Self-contained (pytest, durabletask, durabletask-rs): it also runs in a fresh virtual
environment with only those installed.
"""

import socket

import pytest

from durabletask_rs.testing import create_test_backend  # was: from durabletask.testing import ...
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.worker import TaskHubGrpcWorker
from durabletask import task


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = _free_port()  # the README: 50051
ADDRESS = f"localhost:{PORT}"


@pytest.fixture
def backend():
    """Create an in-memory backend for testing."""
    backend = create_test_backend(port=PORT)
    yield backend
    backend.stop()
    backend.reset()


def test_simple_orchestration(backend):
    """Test a simple orchestration."""
    # Create client and worker
    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    # Define orchestrator and activity
    def hello_orchestrator(ctx, _):
        result = yield ctx.call_activity(say_hello, input="World")
        return result

    def say_hello(ctx, name: str):
        return f"Hello, {name}!"

    # Register functions
    worker.add_orchestrator(hello_orchestrator)
    worker.add_activity(say_hello)

    # Start the worker
    worker.start()

    try:
        # Schedule orchestration
        instance_id = client.schedule_new_orchestration(hello_orchestrator)

        # Wait for completion
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)

        # Verify results
        assert state is not None
        assert state.runtime_status == OrchestrationStatus.COMPLETED
        assert state.serialized_output == '"Hello, World!"'
    finally:
        worker.stop()


def test_activity_chaining(backend):
    """Activities called one after another."""
    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    def sequence(ctx, _):
        results = []
        for city in ["Tokyo", "Seattle", "London"]:
            results.append((yield ctx.call_activity(say_hello, input=city)))
        return results

    def say_hello(ctx, name: str):
        return f"Hello, {name}!"

    worker.add_orchestrator(sequence)
    worker.add_activity(say_hello)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(sequence)
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)
        assert state.runtime_status == OrchestrationStatus.COMPLETED
        assert state.get_output() == ["Hello, Tokyo!", "Hello, Seattle!", "Hello, London!"]
    finally:
        worker.stop()


def test_fan_out_fan_in(backend):
    """Activities run in parallel, results gathered with when_all."""
    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    def fan_out(ctx, count: int):
        tasks = [ctx.call_activity(square, input=i) for i in range(count)]
        results = yield task.when_all(tasks)
        return sum(results)

    def square(ctx, n: int):
        return n * n

    worker.add_orchestrator(fan_out)
    worker.add_activity(square)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(fan_out, input=10)
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)
        assert state.runtime_status == OrchestrationStatus.COMPLETED
        assert state.get_output() == 285
    finally:
        worker.stop()


def test_external_event(backend):
    """An orchestration waiting for an event raised by the client."""
    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    def approval(ctx, _):
        decision = yield ctx.wait_for_external_event("approval")
        return f"Approved: {decision}"

    worker.add_orchestrator(approval)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(approval)
        client.wait_for_orchestration_start(instance_id, timeout=10)
        client.raise_orchestration_event(instance_id, "approval", data="yes")
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)
        assert state.runtime_status == OrchestrationStatus.COMPLETED
        assert state.get_output() == "Approved: yes"
    finally:
        worker.stop()


def test_timer(backend):
    """A durable timer."""
    from datetime import timedelta

    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    def delayed(ctx, _):
        yield ctx.create_timer(timedelta(seconds=1))
        return "done"

    worker.add_orchestrator(delayed)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(delayed)
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)
        assert state.runtime_status == OrchestrationStatus.COMPLETED
        assert state.get_output() == "done"
    finally:
        worker.stop()


def test_sub_orchestration(backend):
    """A parent orchestration calling a child."""
    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    def child(ctx, value: int):
        return value * 2

    def parent(ctx, value: int):
        result = yield ctx.call_sub_orchestrator(child, input=value)
        return result + 1

    worker.add_orchestrator(parent)
    worker.add_orchestrator(child)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(parent, input=20)
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)
        assert state.runtime_status == OrchestrationStatus.COMPLETED
        assert state.get_output() == 41
    finally:
        worker.stop()


def test_activity_failure(backend):
    """A failing activity fails the orchestration with its details."""
    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    def failing_orchestrator(ctx, _):
        yield ctx.call_activity(failing_activity)

    def failing_activity(ctx, _):
        raise ValueError("Something went wrong")

    worker.add_orchestrator(failing_orchestrator)
    worker.add_activity(failing_activity)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(failing_orchestrator)
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)
        assert state.runtime_status == OrchestrationStatus.FAILED
        assert state.failure_details is not None
        assert "Something went wrong" in state.failure_details.message
    finally:
        worker.stop()


def test_terminate(backend):
    """Terminating a running orchestration."""
    client = TaskHubGrpcClient(host_address=ADDRESS)
    worker = TaskHubGrpcWorker(host_address=ADDRESS)

    def waits_forever(ctx, _):
        yield ctx.wait_for_external_event("never")

    worker.add_orchestrator(waits_forever)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(waits_forever)
        client.wait_for_orchestration_start(instance_id, timeout=10)
        client.terminate_orchestration(instance_id, output="stopped")
        state = client.wait_for_orchestration_completion(instance_id, timeout=10)
        assert state.runtime_status == OrchestrationStatus.TERMINATED
        assert state.get_output() == "stopped"
    finally:
        worker.stop()
