"""`http_port`: the dashboard and admin HTTP API beside the in-process gRPC server, asked for
per backend (never by default, so parallel tests never fight over an HTTP port)."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any, Optional

import pytest

from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker

from durabletask_rs.testing import InMemoryOrchestrationBackend, create_test_backend


def get(url: str, token: Optional[str] = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
            kind = response.headers.get("content-type", "")
            return response.status, json.loads(body) if "json" in kind else body.decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def hello(ctx: task.OrchestrationContext, name: str):
    return f"hello {name}"


def test_no_http_unless_asked():
    with InMemoryOrchestrationBackend(port=0) as backend:
        assert backend.http_port is None
        assert backend.http_address is None


def test_the_api_lists_what_the_sdk_made_and_the_port_survives_a_restart():
    backend = create_test_backend(port=0, http_port=0)
    try:
        assert backend.http_port and backend.http_port != backend.port
        assert backend.http_address == f"http://localhost:{backend.http_port}"
        status, body = get(f"{backend.http_address}/healthz")
        assert status == 200, body
        worker = dt_worker.TaskHubGrpcWorker(host_address=backend.address)
        worker.add_orchestrator(hello)
        client = dt_client.TaskHubGrpcClient(host_address=backend.address)
        worker.start()
        try:
            instance_id = client.schedule_new_orchestration(hello, input="web", instance_id="web-1")
            state = client.wait_for_orchestration_completion(instance_id, timeout=30)
            assert state is not None and state.runtime_status == dt_client.OrchestrationStatus.COMPLETED
        finally:
            worker.stop()
            client.close()
        status, body = get(f"{backend.http_address}/api/v1/instances/web-1")
        assert status == 200, body
        assert "web-1" in json.dumps(body) and "COMPLETED" in json.dumps(body)
        http_port = backend.http_port
        backend.stop()
        backend.start()
        assert backend.http_port == http_port
        status, body = get(f"{backend.http_address}/api/v1/instances/web-1")
        assert status == 200, body
        backend.reset()
        status, _ = get(f"{backend.http_address}/api/v1/instances/web-1")
        assert status == 404
    finally:
        backend.stop()


def test_the_http_port_takes_the_token():
    with InMemoryOrchestrationBackend(port=0, http_port=0, auth_token="web-token") as backend:
        assert get(f"{backend.http_address}/api/v1/instances")[0] == 401
        assert get(f"{backend.http_address}/api/v1/instances", token="wrong")[0] == 401
        assert get(f"{backend.http_address}/api/v1/instances", token="web-token")[0] == 200
        assert get(f"{backend.http_address}/healthz")[0] == 200


@pytest.mark.parametrize("value, error", [
    ("8082", TypeError), (True, TypeError), (-1, ValueError), (65536, ValueError),
])
def test_a_bad_http_port_raises_at_once(value, error):
    with pytest.raises(error, match="http_port"):
        InMemoryOrchestrationBackend(port=0, http_port=value)


def test_a_taken_http_port_raises_oserror_naming_it():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        backend = InMemoryOrchestrationBackend(port=0, http_port=http_port)
        with pytest.raises(OSError, match=str(http_port)):
            backend.start()
        assert "stopped" in repr(backend)
