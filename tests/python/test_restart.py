"""RestartInstance: same id, new id, and the error cases."""

import grpc
import pytest

from durabletask import task

from dt_e2e import Counter, Status, complete, running_worker, uid

runs = Counter()


def record_run(ctx: task.ActivityContext, name: str) -> str:
    n = runs.incr(ctx.orchestration_id)
    return f"hello {name} (run {n})"


def restartable(ctx: task.OrchestrationContext, name: str):
    greeting = yield ctx.call_activity(record_run, input=name)
    return greeting


def waits(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[restartable, waits], activities=[record_run]) as w:
        yield w


def test_restart_with_same_instance_id(client, worker):
    iid = client.schedule_new_orchestration(restartable, input="Ada", instance_id=uid("rst"))
    assert complete(client, iid).get_output() == "hello Ada (run 1)"

    new_id = client.restart_orchestration(iid)
    assert new_id == iid
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_input() == "Ada"
    assert state.get_output() == "hello Ada (run 2)"
    assert runs.get(iid) == 2


def test_restart_with_new_instance_id(client, worker):
    iid = client.schedule_new_orchestration(restartable, input="Bob", instance_id=uid("rst-new"))
    first = complete(client, iid)
    assert first.get_output() == "hello Bob (run 1)"

    new_id = client.restart_orchestration(iid, restart_with_new_instance_id=True)
    assert new_id and new_id != iid
    state = complete(client, new_id)
    assert state.runtime_status == Status.COMPLETED
    assert state.name == "restartable"
    assert state.get_input() == "Bob"
    assert state.get_output() == "hello Bob (run 1)"  # first run under the new id
    # The original instance is untouched.
    old = client.get_orchestration_state(iid)
    assert old is not None
    assert (old.runtime_status, old.get_output()) == (Status.COMPLETED, "hello Bob (run 1)")
    assert runs.get(iid) == 1


def test_restart_running_instance_fails_precondition(client, worker):
    iid = client.schedule_new_orchestration(waits, instance_id=uid("rst-run"))
    client.wait_for_orchestration_start(iid, timeout=30)
    with pytest.raises(grpc.RpcError) as err:
        client.restart_orchestration(iid)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.RUNNING
    client.terminate_orchestration(iid)
    assert complete(client, iid).runtime_status == Status.TERMINATED


def test_restart_unknown_instance_not_found(client, worker):
    with pytest.raises(grpc.RpcError) as err:
        client.restart_orchestration(uid("missing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
