"""The keyword-only options for testing secured clients: `auth_token` and `tls_cert`/`tls_key`,
through the SDK's own client and worker, and clear exceptions when they are wrong.

gRPC reads the trusted roots (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH) once, at the process's first
secure channel: the `pki` fixture sets them before any, and no other test here makes one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Optional

import grpc
import pytest

from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker

from dt_pki import Pki, make_pki
from durabletask_rs.testing import InMemoryOrchestrationBackend, create_test_backend

TOKEN = "py-team-token-1c9e"
OTHER = "py-second-token-77"


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def shout(ctx: task.ActivityContext, text: str) -> str:
    return text.upper()


def greet(ctx: task.OrchestrationContext, name: str):
    return (yield ctx.call_activity(shout, input=f"hello {name}"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    made = make_pki(tmp_path_factory.mktemp("pki"))
    os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(made.ca)
    return made


def code_of(call: Any) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def run_greeting(address: str, *, secure: bool, metadata: Optional[list[tuple[str, str]]]) -> str:
    """Runs `greet` with the SDK's worker and client; returns its output."""
    worker = dt_worker.TaskHubGrpcWorker(host_address=address, secure_channel=secure,
                                         metadata=metadata)
    worker.add_orchestrator(greet)
    worker.add_activity(shout)
    client = dt_client.TaskHubGrpcClient(host_address=address, secure_channel=secure,
                                         metadata=metadata)
    worker.start()
    try:
        instance_id = client.schedule_new_orchestration(greet, input="team")
        state = client.wait_for_orchestration_completion(instance_id, timeout=30)
        assert state is not None
        assert state.runtime_status == dt_client.OrchestrationStatus.COMPLETED, state
        return state.serialized_output
    finally:
        worker.stop()
        client.close()


@pytest.fixture
def token_backend() -> Iterator[InMemoryOrchestrationBackend]:
    backend = create_test_backend(port=0, auth_token=[TOKEN, OTHER])
    yield backend
    backend.stop()


@pytest.mark.parametrize("metadata", [None, bearer("wrong"), [("authorization", TOKEN)]],
                         ids=["none", "wrong", "no-bearer-scheme"])
def test_a_call_without_a_valid_token_is_unauthenticated(token_backend, metadata):
    client = dt_client.TaskHubGrpcClient(host_address=token_backend.address, metadata=metadata)
    try:
        assert code_of(lambda: client.get_orchestration_state("x")) == grpc.StatusCode.UNAUTHENTICATED
        assert code_of(lambda: client.schedule_new_orchestration(greet, input="x")) \
            == grpc.StatusCode.UNAUTHENTICATED
    finally:
        client.close()


@pytest.mark.parametrize("token", [TOKEN, OTHER])
def test_each_token_runs_orchestrations_end_to_end(token_backend, token):
    assert run_greeting(token_backend.address, secure=False, metadata=bearer(token)) == '"HELLO TEAM"'


def test_the_token_still_applies_after_stop_start_and_reset(token_backend):
    token_backend.stop()
    token_backend.reset()
    token_backend.start()
    client = dt_client.TaskHubGrpcClient(host_address=token_backend.address)
    try:
        assert code_of(lambda: client.get_orchestration_state("x")) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        client.close()
    assert run_greeting(token_backend.address, secure=False, metadata=bearer(TOKEN)) == '"HELLO TEAM"'


def test_tls_with_a_token_runs_orchestrations_and_plaintext_is_refused(pki: Pki):
    with InMemoryOrchestrationBackend(port=0, auth_token=TOKEN, tls_cert=pki.cert,
                                      tls_key=str(pki.key)) as backend:
        assert run_greeting(backend.address, secure=True, metadata=bearer(TOKEN)) == '"HELLO TEAM"'
        plain = dt_client.TaskHubGrpcClient(host_address=backend.address, metadata=bearer(TOKEN))
        try:
            assert code_of(lambda: plain.get_orchestration_state("x")) == grpc.StatusCode.UNAVAILABLE
        finally:
            plain.close()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"auth_token": ""}, ValueError, "no token"),
    ({"auth_token": []}, ValueError, "no token"),
    ({"auth_token": "two words"}, ValueError, "whitespace"),
    ({"auth_token": 5}, TypeError, "auth_token must be a str or a list of str, not int"),
    ({"auth_token": ["ok", 5]}, TypeError, "auth_token must be a str or a list of str"),
    ({"tls_cert": "cert.pem"}, ValueError, "tls_cert was given without tls_key"),
    ({"tls_key": "key.pem"}, ValueError, "tls_key was given without tls_cert"),
    ({"tls_cert": 1, "tls_key": "k"}, TypeError, "tls_cert must be a path"),
])
def test_bad_security_options_raise_at_once(kwargs, error, message):
    with pytest.raises(error, match=message):
        InMemoryOrchestrationBackend(port=0, **kwargs)


def test_a_missing_certificate_file_is_file_not_found(tmp_path: Path, pki: Pki):
    missing = tmp_path / "nope.pem"
    with pytest.raises(FileNotFoundError, match="nope.pem"):
        create_test_backend(port=0, tls_cert=missing, tls_key=pki.key)


def test_a_key_that_is_not_pem_is_a_value_error(tmp_path: Path, pki: Pki):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key\n")
    with pytest.raises(ValueError, match="junk.pem"):
        create_test_backend(port=0, tls_cert=pki.cert, tls_key=junk)
