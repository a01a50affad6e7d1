"""TLS, bearer tokens and limits through the real SDKs.

A CA made for the session signs a certificate for localhost; `dt-server --tls-cert/--tls-key
--auth-token-file` serves with it. The SDK trusts the CA through GRPC_DEFAULT_SSL_ROOTS_FILE_PATH
(durabletask 1.12.0's `get_grpc_channel` uses `grpc.ssl_channel_credentials()` with the default
roots, which gRPC reads from that file once, at the process's first secure channel).
"""

from __future__ import annotations

import os
import time
from typing import Any, Iterator

import grpc
import pytest
from azure.core.credentials import AccessToken

from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker
from durabletask.azuremanaged.client import DurableTaskSchedulerClient
from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker
from durabletask.internal import orchestrator_service_pb2 as pb

from dt_e2e import USING_BINARY, ServerHandle, Status, complete, extra_server, uid
from dt_pki import Pki, make_pki

# The in-process package takes the same security options as keyword arguments; they are tested
# in dt-python/tests/test_security_options.py.
pytestmark = pytest.mark.skipif(not USING_BINARY, reason="dt-server's own options")

TOKEN = "team-token-5b1f0c"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    made = make_pki(tmp_path_factory.mktemp("pki"))
    # gRPC reads the default roots once per process: every secure channel of the session must
    # trust this one CA.
    os.environ["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(made.ca)
    return made


@pytest.fixture(scope="module")
def secure_server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    tokens = tmp_path_factory.mktemp("tokens") / "tokens"
    tokens.write_text(f"\n  {TOKEN}  \nsecond-token-77aa\n")
    with extra_server(extra_args=["--tls-cert", str(pki.cert), "--tls-key", str(pki.key),
                                  "--auth-token-file", str(tokens),
                                  "--max-message-bytes", str(1024 * 1024)]) as handle:
        yield handle


def bearer(token: str = TOKEN) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def secure_client(server: ServerHandle, metadata: list[tuple[str, str]] | None) -> dt_client.TaskHubGrpcClient:
    return dt_client.TaskHubGrpcClient(host_address=server.address, secure_channel=True, metadata=metadata)


def rpc_error(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------------------------------------
# Orchestrations
# ---------------------------------------------------------------------------------------------

def shout(ctx: task.ActivityContext, text: str) -> str:
    return text.upper() + "!"


def greet(ctx: task.OrchestrationContext, name: str):
    first = yield ctx.call_activity(shout, input=f"hello {name}")
    second = yield ctx.call_activity(shout, input="bye")
    return [first, second]


def wait_for_approval(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("approval")
    return "approved"


class FixedCredential:
    """An azure-core TokenCredential that always returns the same token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


# ---------------------------------------------------------------------------------------------
# TLS and tokens
# ---------------------------------------------------------------------------------------------

def test_plaintext_is_refused_on_a_tls_port(secure_server: ServerHandle) -> None:
    c = dt_client.TaskHubGrpcClient(host_address=secure_server.address, secure_channel=False,
                                    metadata=bearer())
    try:
        err = rpc_error(lambda: c.get_orchestration_state("anything"))
        assert err.code() == grpc.StatusCode.UNAVAILABLE, err
    finally:
        c.close()


@pytest.mark.parametrize("metadata", [None, bearer("wrong-token"), [("authorization", TOKEN)]],
                         ids=["no-token", "wrong-token", "no-bearer-scheme"])
def test_calls_without_a_valid_token_are_unauthenticated(secure_server: ServerHandle,
                                                         metadata: list[tuple[str, str]] | None) -> None:
    c = secure_client(secure_server, metadata)
    try:
        err = rpc_error(lambda: c.schedule_new_orchestration(greet, input="x", instance_id=uid("unauth")))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
        err = rpc_error(lambda: c.get_orchestration_state("anything"))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
    finally:
        c.close()
    assert "wrong-token" not in secure_server.stderr_text()


def test_tls_and_token_run_orchestrations_end_to_end(secure_server: ServerHandle) -> None:
    w = dt_worker.TaskHubGrpcWorker(host_address=secure_server.address, secure_channel=True,
                                    metadata=bearer())
    w.add_orchestrator(greet)
    w.add_activity(shout)
    w.add_orchestrator(wait_for_approval)
    w.start()
    c = secure_client(secure_server, bearer("second-token-77aa"))
    try:
        iid = c.schedule_new_orchestration(greet, input="team")
        state = complete(c, iid)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.serialized_output == '["HELLO TEAM!", "BYE!"]'

        waiting = c.schedule_new_orchestration(wait_for_approval)
        c.wait_for_orchestration_start(waiting, timeout=30)
        c.raise_orchestration_event(waiting, "approval", data=True)
        assert complete(c, waiting).serialized_output == '"approved"'
    finally:
        c.close()
        w.stop()


def test_the_health_service_needs_no_token(secure_server: ServerHandle) -> None:
    channel = grpc.secure_channel(secure_server.address, grpc.ssl_channel_credentials())
    try:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda _: b"",
                                    response_deserializer=lambda raw: raw)
        try:
            check(None, timeout=10)
        except grpc.RpcError as err:
            # Until a health service is registered the route is unknown; what matters is that
            # the token check let the call through.
            assert err.code() == grpc.StatusCode.UNIMPLEMENTED, err
    finally:
        channel.close()


def test_the_dts_flavoured_client_and_worker_with_a_credential(secure_server: ServerHandle) -> None:
    credential = FixedCredential(TOKEN)
    w = DurableTaskSchedulerWorker(host_address=secure_server.address, taskhub="default",
                                   token_credential=credential)
    w.add_orchestrator(greet)
    w.add_activity(shout)
    w.start()
    c = DurableTaskSchedulerClient(host_address=secure_server.address, taskhub="default",
                                   token_credential=credential)
    try:
        iid = c.schedule_new_orchestration(greet, input="dts")
        state = complete(c, iid)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.serialized_output == '["HELLO DTS!", "BYE!"]'
        assert credential.scopes, "the SDK never asked the credential for a token"
    finally:
        c.close()
        w.stop()

    wrong = DurableTaskSchedulerClient(host_address=secure_server.address, taskhub="default",
                                       token_credential=FixedCredential("not-the-token"))
    try:
        err = rpc_error(lambda: wrong.get_orchestration_state(iid))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err
    finally:
        wrong.close()


# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------

def test_a_message_over_the_size_limit_is_resource_exhausted_and_the_server_carries_on(
        secure_server: ServerHandle) -> None:
    c = secure_client(secure_server, bearer())
    try:
        big = "x" * (2 * 1024 * 1024)
        refused = uid("too-big")
        err = rpc_error(lambda: c.schedule_new_orchestration(greet, input=big, instance_id=refused))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
        assert c.get_orchestration_state(refused) is None  # nothing half-created

        with_worker = dt_worker.TaskHubGrpcWorker(host_address=secure_server.address,
                                                  secure_channel=True, metadata=bearer())
        with_worker.add_orchestrator(greet)
        with_worker.add_activity(shout)
        with_worker.start()
        try:
            iid = c.schedule_new_orchestration(greet, input="after")
            assert complete(c, iid).serialized_output == '["HELLO AFTER!", "BYE!"]'
        finally:
            with_worker.stop()
    finally:
        c.close()


@pytest.fixture(scope="module")
def short_wait_server() -> Iterator[ServerHandle]:
    with extra_server(extra_args=["--max-wait-seconds", "1"]) as handle:
        yield handle


def test_waits_end_with_deadline_exceeded_at_the_servers_cap(short_wait_server: ServerHandle) -> None:
    c = dt_client.TaskHubGrpcClient(host_address=short_wait_server.address)
    try:
        # No worker: the instance stays pending, so every wait runs into a limit.
        iid = c.schedule_new_orchestration("never_runs")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            c.wait_for_orchestration_completion(iid, timeout=30)
        assert time.monotonic() - started < 20, "the server's cap did not end the wait"

        # As the JavaScript SDK sends it: no deadline at all.
        stub = c._stub  # the SDK always sets a deadline; the raw stub can leave it out
        err = rpc_error(lambda: stub.WaitForInstanceCompletion(pb.GetInstanceRequest(instanceId=iid)))
        assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err
        assert "wait limit" in (err.details() or "")
        state = c.get_orchestration_state(iid)
        assert state is not None and state.runtime_status == Status.PENDING
    finally:
        c.close()
