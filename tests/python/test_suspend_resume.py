"""SuspendInstance / ResumeInstance."""

import grpc
import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid, wait_for_status


def waits_for_go(ctx: task.OrchestrationContext, _):
    value = yield ctx.wait_for_external_event("go")
    return value


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[waits_for_go]) as w:
        yield w


def test_suspended_instance_does_not_complete_until_resumed(client, worker):
    iid = client.schedule_new_orchestration(waits_for_go, instance_id=uid("susp"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.suspend_orchestration(iid, reason="maintenance")
    wait_for_status(client, iid, Status.SUSPENDED)

    client.raise_orchestration_event(iid, "go", data="payload")
    with pytest.raises(TimeoutError):
        client.wait_for_orchestration_completion(iid, timeout=2)
    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.SUSPENDED

    client.resume_orchestration(iid, reason="back")
    final = complete(client, iid)
    assert final.runtime_status == Status.COMPLETED
    assert final.get_output() == "payload"


def test_terminate_while_suspended(client, worker):
    iid = client.schedule_new_orchestration(waits_for_go, instance_id=uid("susp-term"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.suspend_orchestration(iid)
    wait_for_status(client, iid, Status.SUSPENDED)
    client.terminate_orchestration(iid, output="bye")
    final = complete(client, iid)
    assert final.runtime_status == Status.TERMINATED
    assert final.get_output() == "bye"


@pytest.mark.fixes_reference("resume of a running instance is forwarded and fails the orchestration")
def test_resume_when_not_suspended_is_harmless(client, worker):
    iid = client.schedule_new_orchestration(waits_for_go, instance_id=uid("resume-noop"))
    wait_for_status(client, iid, Status.RUNNING)
    client.resume_orchestration(iid)
    client.raise_orchestration_event(iid, "go", data="still fine")
    final = complete(client, iid)
    assert final.runtime_status == Status.COMPLETED
    assert final.get_output() == "still fine"


@pytest.mark.parametrize("operation", ["suspend_orchestration", "resume_orchestration"])
def test_suspend_resume_unknown_instance_not_found(client, worker, operation):
    with pytest.raises(grpc.RpcError) as err:
        getattr(client, operation)(uid("missing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
