"""Sub-orchestrations: results, parent identity, and failure propagation."""

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid


def child_returns_input(ctx: task.OrchestrationContext, n: int) -> int:
    return n


def parent_sums_children(ctx: task.OrchestrationContext, _):
    results = yield task.when_all([ctx.call_sub_orchestrator(child_returns_input, input=n) for n in (1, 2, 3)])
    return sum(results)


def child_reports_parent(ctx: task.OrchestrationContext, _):
    return ctx.parent_instance_id


def parent_asks_child_for_parent(ctx: task.OrchestrationContext, _):
    seen = yield ctx.call_sub_orchestrator(child_reports_parent, instance_id=f"{ctx.instance_id}-child")
    return {"child_saw": seen, "own_parent": ctx.parent_instance_id}


def failing_child(ctx: task.OrchestrationContext, code: int):
    raise ValueError(f"child broke: {code}")


def parent_catches_child_failure(ctx: task.OrchestrationContext, _):
    try:
        yield ctx.call_sub_orchestrator(failing_child, input=7)
    except task.TaskFailedError as e:
        return {"error_type": e.details.error_type, "message": e.details.message}
    return "no failure"


def parent_lets_child_failure_escape(ctx: task.OrchestrationContext, _):
    result = yield ctx.call_sub_orchestrator(failing_child, input=9)
    return result


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[
            child_returns_input, parent_sums_children, child_reports_parent,
            parent_asks_child_for_parent, failing_child, parent_catches_child_failure,
            parent_lets_child_failure_escape]) as w:
        yield w


def test_children_results_sum_to_six(client, worker):
    iid = client.schedule_new_orchestration(parent_sums_children, instance_id=uid("sum"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == 6


def test_child_instance_exists_with_explicit_id(client, worker):
    iid = client.schedule_new_orchestration(parent_asks_child_for_parent, instance_id=uid("par"))
    assert complete(client, iid).runtime_status == Status.COMPLETED
    child = client.get_orchestration_state(f"{iid}-child")
    assert child is not None
    assert child.name == "child_reports_parent"
    assert child.runtime_status == Status.COMPLETED


@pytest.mark.fixes_reference("ES.parentInstance is never set, so parent_instance_id is None")
def test_child_sees_parent_instance_id(client, worker):
    iid = client.schedule_new_orchestration(parent_asks_child_for_parent, instance_id=uid("par"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"child_saw": iid, "own_parent": None}


def test_child_failure_message_reaches_parent(client, worker):
    iid = client.schedule_new_orchestration(parent_catches_child_failure, instance_id=uid("cfail"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output()["message"] == "child broke: 7"


@pytest.mark.fixes_reference("child failure details are rebuilt as builtins.Exception")
def test_child_failure_details_verbatim(client, worker):
    iid = client.schedule_new_orchestration(parent_catches_child_failure, instance_id=uid("cfail"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"error_type": "builtins.ValueError", "message": "child broke: 7"}


@pytest.mark.fixes_reference("child failure details are rebuilt as builtins.Exception")
def test_unhandled_child_failure_fails_parent_with_inner_details(client, worker):
    iid = client.schedule_new_orchestration(parent_lets_child_failure_escape, instance_id=uid("cesc"))
    state = complete(client, iid)
    assert state.runtime_status == Status.FAILED
    fd = state.failure_details
    assert fd is not None
    assert fd.error_type == "durabletask.task.TaskFailedError"
    assert "child broke: 9" in fd.message
    assert fd.inner_failure is not None
    assert fd.inner_failure.error_type == "builtins.ValueError"
    assert fd.inner_failure.message == "child broke: 9"
