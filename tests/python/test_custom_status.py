"""Custom status reported by the orchestration and read back through GetInstance."""

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid, wait_until


def staged(ctx: task.OrchestrationContext, _):
    ctx.set_custom_status({"stage": "waiting", "progress": 50})
    value = yield ctx.wait_for_external_event("proceed")
    ctx.set_custom_status({"stage": "done", "progress": 100})
    return value


def no_status(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("proceed")
    return "ok"


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[staged, no_status]) as w:
        yield w


def test_custom_status_visible_while_waiting(client, worker):
    iid = client.schedule_new_orchestration(staged, input="in", instance_id=uid("cs"))

    def waiting_status():
        state = client.get_orchestration_state(iid)
        return state if state is not None and state.serialized_custom_status is not None else None

    state = wait_until(waiting_status, message="custom status to appear")
    assert state.runtime_status == Status.RUNNING
    assert state.get_custom_status() == {"stage": "waiting", "progress": 50}

    # Without payloads: no input/output, but the custom status is still reported.
    lean = client.get_orchestration_state(iid, fetch_payloads=False)
    assert lean is not None
    assert lean.serialized_input is None
    assert lean.get_custom_status() == {"stage": "waiting", "progress": 50}

    client.raise_orchestration_event(iid, "proceed", data="go")
    final = complete(client, iid)
    assert final.runtime_status == Status.COMPLETED
    assert final.get_output() == "go"
    assert final.get_custom_status() == {"stage": "done", "progress": 100}


def test_no_custom_status_when_never_set(client, worker):
    iid = client.schedule_new_orchestration(no_status, instance_id=uid("cs-none"))
    started = client.wait_for_orchestration_start(iid, timeout=30)
    assert started is not None
    client.raise_orchestration_event(iid, "proceed")
    final = complete(client, iid)
    assert final.runtime_status == Status.COMPLETED
    assert final.serialized_custom_status is None
