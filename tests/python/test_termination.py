"""TerminateInstance: plain, recursive, on not-yet-started and on finished instances."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid, wait_for_status


def waits_forever(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")
    return "should not happen"


def parent_of_waiter(ctx: task.OrchestrationContext, _):
    result = yield ctx.call_sub_orchestrator(waits_forever, instance_id=f"{ctx.instance_id}-child")
    return result


def quick(ctx: task.OrchestrationContext, _):
    return "done"


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[waits_forever, parent_of_waiter, quick]) as w:
        yield w


def test_terminate_waiting_orchestration(client, worker):
    iid = client.schedule_new_orchestration(waits_forever, instance_id=uid("term"))
    client.wait_for_orchestration_start(iid, timeout=30)
    reason = {"reason": "operator request", "ticket": 1234}
    client.terminate_orchestration(iid, output=reason)
    state = complete(client, iid)
    assert state.runtime_status == Status.TERMINATED
    assert state.serialized_output is not None
    assert json.loads(state.serialized_output) == reason


def test_terminate_output_is_the_reason_json(client, worker):
    iid = client.schedule_new_orchestration(waits_forever, instance_id=uid("term-str"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.terminate_orchestration(iid, output="stop now")
    state = complete(client, iid)
    assert state.runtime_status == Status.TERMINATED
    assert state.serialized_output == json.dumps("stop now")


@pytest.mark.fixes_reference("recursive terminate is ignored")
def test_recursive_terminate_stops_child(client, worker):
    iid = client.schedule_new_orchestration(parent_of_waiter, instance_id=uid("term-rec"))
    child_id = f"{iid}-child"
    wait_for_status(client, child_id, Status.RUNNING)
    client.terminate_orchestration(iid, output="cascade", recursive=True)
    assert complete(client, iid).runtime_status == Status.TERMINATED
    child = complete(client, child_id, timeout=10)
    assert child.runtime_status == Status.TERMINATED


@pytest.mark.fixes_reference("scheduledStartTimestamp does not delay the start")
def test_terminate_scheduled_instance_before_it_starts(client, worker):
    start_at = datetime.now(timezone.utc) + timedelta(seconds=20)
    iid = client.schedule_new_orchestration(quick, instance_id=uid("term-sched"), start_at=start_at)
    client.terminate_orchestration(iid, output="cancelled")
    state = complete(client, iid, timeout=15)  # long before the scheduled start
    assert state.runtime_status == Status.TERMINATED
    assert state.serialized_output == json.dumps("cancelled")


def test_terminate_completed_instance_is_a_no_op(client, worker):
    iid = client.schedule_new_orchestration(quick, instance_id=uid("term-done"))
    assert complete(client, iid).get_output() == "done"
    client.terminate_orchestration(iid, output="too late")
    state = client.get_orchestration_state(iid)
    assert state is not None
    assert (state.runtime_status, state.get_output()) == (Status.COMPLETED, "done")
