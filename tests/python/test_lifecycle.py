"""Instance lifecycle basics: start, duplicates, scheduled start, unknown ids, failures."""

import time
from datetime import datetime, timedelta, timezone

import grpc
import pytest

from durabletask import task
from durabletask.internal import orchestrator_service_pb2 as pb

from dt_e2e import Status, complete, running_worker, uid


def empty(ctx: task.OrchestrationContext, _):
    return None


def returns_input(ctx: task.OrchestrationContext, value):
    return value


def raises_key_error(ctx: task.OrchestrationContext, _):
    raise KeyError("missing-key")


def waits(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[empty, returns_input, raises_key_error, waits]) as w:
        yield w


def test_empty_orchestration(client, worker):
    iid = client.schedule_new_orchestration(empty, instance_id=uid("empty"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.serialized_output is None
    assert state.serialized_custom_status is None
    assert state.failure_details is None
    assert state.name == "empty"


def test_unregistered_orchestrator_fails(client, worker):
    iid = client.schedule_new_orchestration("no_such_orchestrator", instance_id=uid("unreg"))
    state = complete(client, iid)
    assert state.runtime_status == Status.FAILED
    assert state.failure_details is not None
    assert state.failure_details.error_type == "durabletask.worker.OrchestratorNotRegisteredError"
    assert state.failure_details.message == "A 'no_such_orchestrator' orchestrator was not registered."


def test_orchestrator_exception_fails_instance(client, worker):
    iid = client.schedule_new_orchestration(raises_key_error, instance_id=uid("oexc"))
    state = complete(client, iid)
    assert state.runtime_status == Status.FAILED
    assert state.serialized_output is None
    fd = state.failure_details
    assert fd is not None
    assert fd.error_type == "builtins.KeyError"
    assert fd.message == "'missing-key'"
    assert fd.stack_trace and "raises_key_error" in fd.stack_trace


def test_get_unknown_instance_is_none(client, worker):
    assert client.get_orchestration_state(uid("missing")) is None


@pytest.mark.fixes_reference("for an unknown id its own wait may expire first and answer OK/exists=false (client gets None)")
def test_wait_on_unknown_instance_times_out(client, worker):
    with pytest.raises(TimeoutError):
        client.wait_for_orchestration_completion(uid("missing"), timeout=0.5)


def test_wait_for_completion_times_out_on_running_instance(client, worker):
    iid = client.schedule_new_orchestration(waits, instance_id=uid("wait-to"))
    client.wait_for_orchestration_start(iid, timeout=30)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        client.wait_for_orchestration_completion(iid, timeout=1)
    assert time.monotonic() - t0 >= 0.9
    client.terminate_orchestration(iid)
    assert complete(client, iid).runtime_status == Status.TERMINATED


def test_duplicate_instance_id_running_already_exists(client, worker):
    iid = client.schedule_new_orchestration(waits, instance_id=uid("dup"))
    with pytest.raises(grpc.RpcError) as err:
        client.schedule_new_orchestration(waits, instance_id=iid)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    client.terminate_orchestration(iid)
    complete(client, iid)


def test_duplicate_instance_id_of_completed_already_exists(client, worker):
    iid = client.schedule_new_orchestration(returns_input, input="first", instance_id=uid("dup-done"))
    assert complete(client, iid).get_output() == "first"
    with pytest.raises(grpc.RpcError) as err:
        client.schedule_new_orchestration(returns_input, input="second", instance_id=iid)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert client.get_orchestration_state(iid).get_output() == "first"


def test_reuse_policy_replaces_completed_instance(client, worker):
    iid = client.schedule_new_orchestration(returns_input, input="first", instance_id=uid("reuse"))
    assert complete(client, iid).get_output() == "first"
    policy = pb.OrchestrationIdReusePolicy(replaceableStatus=[pb.ORCHESTRATION_STATUS_COMPLETED])
    again = client.schedule_new_orchestration(returns_input, input="second", instance_id=iid,
                                              reuse_id_policy=policy)
    assert again == iid
    state = complete(client, iid)
    assert (state.runtime_status, state.get_output()) == (Status.COMPLETED, "second")


def test_reuse_policy_without_current_status_already_exists(client, worker):
    iid = client.schedule_new_orchestration(waits, instance_id=uid("reuse-no"))
    policy = pb.OrchestrationIdReusePolicy(replaceableStatus=[pb.ORCHESTRATION_STATUS_FAILED])
    with pytest.raises(grpc.RpcError) as err:
        client.schedule_new_orchestration(waits, instance_id=iid, reuse_id_policy=policy)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    client.terminate_orchestration(iid)
    complete(client, iid)


@pytest.mark.fixes_reference("scheduledStartTimestamp does not delay the start")
def test_scheduled_start_stays_pending_until_due(client, worker):
    t0 = time.monotonic()
    start_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    iid = client.schedule_new_orchestration(returns_input, input="later", instance_id=uid("sched"),
                                            start_at=start_at)
    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.PENDING
    with pytest.raises(TimeoutError):
        client.wait_for_orchestration_start(iid, timeout=1)
    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.PENDING

    final = complete(client, iid)
    assert (final.runtime_status, final.get_output()) == (Status.COMPLETED, "later")
    assert time.monotonic() - t0 >= 1.9
    assert datetime.now(timezone.utc) >= start_at
