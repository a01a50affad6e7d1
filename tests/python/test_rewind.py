"""RewindInstance (client.rewind_orchestration): failed work is retried, successful results are
kept, child orchestrations are rewound (or re-created when purged), and the error cases."""

import grpc
import pytest

from durabletask import task

from dt_e2e import Counter, Status, complete, running_worker, uid, wait_for_status

runs = Counter()


def count_a(ctx: task.ActivityContext, text: str) -> str:
    n = runs.incr(f"{ctx.orchestration_id}/A")
    return f"A({text}) run {n}"


def fails_first_run(ctx: task.ActivityContext, text: str) -> str:
    n = runs.incr(f"{ctx.orchestration_id}/B")
    if n == 1:
        raise RuntimeError(f"B failed on run {n}")
    return f"B({text}) run {n}"


def fails_first_two_runs(ctx: task.ActivityContext, text: str) -> str:
    n = runs.incr(f"{ctx.orchestration_id}/C")
    if n <= 2:
        raise RuntimeError(f"C failed on run {n}")
    return f"C({text}) run {n}"


def a_then_b(ctx: task.OrchestrationContext, text: str):
    a = yield ctx.call_activity(count_a, input=text)
    b = yield ctx.call_activity(fails_first_run, input=text)
    return [a, b]


def a_then_c(ctx: task.OrchestrationContext, text: str):
    a = yield ctx.call_activity(count_a, input=text)
    c = yield ctx.call_activity(fails_first_two_runs, input=text)
    return [a, c]


def rewind_parent(ctx: task.OrchestrationContext, text: str):
    a = yield ctx.call_activity(count_a, input=text)
    child = yield ctx.call_sub_orchestrator(a_then_b, input=text, instance_id=f"{ctx.instance_id}-child")
    return {"a": a, "child": child}


def waits(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[a_then_b, a_then_c, rewind_parent, waits],
                        activities=[count_a, fails_first_run, fails_first_two_runs]) as w:
        yield w


def _assert_failed_by(state, message: str) -> None:
    assert state.runtime_status == Status.FAILED
    fd = state.failure_details
    assert fd is not None and fd.inner_failure is not None
    assert fd.inner_failure.error_type == "builtins.RuntimeError"
    assert fd.inner_failure.message == message


def test_rewind_retries_only_the_failed_activity(client, worker):
    iid = client.schedule_new_orchestration(a_then_b, input="x", instance_id=uid("rw"))
    _assert_failed_by(complete(client, iid), "B failed on run 1")
    assert runs.get(f"{iid}/A") == 1
    assert runs.get(f"{iid}/B") == 1

    client.rewind_orchestration(iid, reason="retry B")
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.failure_details is None
    assert state.get_output() == ["A(x) run 1", "B(x) run 2"]
    assert runs.get(f"{iid}/A") == 1  # the successful result was kept, not re-run
    assert runs.get(f"{iid}/B") == 2


def test_rewind_twice(client, worker):
    iid = client.schedule_new_orchestration(a_then_c, input="y", instance_id=uid("rw2"))
    _assert_failed_by(complete(client, iid), "C failed on run 1")

    client.rewind_orchestration(iid, reason="first rewind")
    _assert_failed_by(complete(client, iid), "C failed on run 2")
    assert runs.get(f"{iid}/C") == 2

    client.rewind_orchestration(iid, reason="second rewind")
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == ["A(y) run 1", "C(y) run 3"]
    assert runs.get(f"{iid}/A") == 1
    assert runs.get(f"{iid}/C") == 3


def test_rewind_parent_rewinds_failed_child(client, worker):
    iid = client.schedule_new_orchestration(rewind_parent, input="p", instance_id=uid("rw-par"))
    child_id = f"{iid}-child"
    parent = complete(client, iid)
    assert parent.runtime_status == Status.FAILED
    _assert_failed_by(complete(client, child_id), "B failed on run 1")

    client.rewind_orchestration(iid, reason="rewind the tree")
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == {"a": "A(p) run 1", "child": ["A(p) run 1", "B(p) run 2"]}
    child = client.get_orchestration_state(child_id)
    assert child is not None
    assert child.runtime_status == Status.COMPLETED
    assert child.get_output() == ["A(p) run 1", "B(p) run 2"]
    assert runs.get(f"{iid}/A") == 1
    assert runs.get(f"{child_id}/A") == 1  # the child's successful activity was kept too
    assert runs.get(f"{child_id}/B") == 2


def test_rewind_parent_recreates_purged_child(client, worker):
    iid = client.schedule_new_orchestration(rewind_parent, input="q", instance_id=uid("rw-purged"))
    child_id = f"{iid}-child"
    assert complete(client, iid).runtime_status == Status.FAILED
    assert complete(client, child_id).runtime_status == Status.FAILED

    assert client.purge_orchestration(child_id).deleted_instance_count == 1
    assert client.get_orchestration_state(child_id) is None

    client.rewind_orchestration(iid, reason="child was purged")
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    # The child starts over from scratch: its history (and A's result) was purged.
    assert state.get_output() == {"a": "A(q) run 1", "child": ["A(q) run 2", "B(q) run 2"]}
    child = client.get_orchestration_state(child_id)
    assert child is not None
    assert child.runtime_status == Status.COMPLETED
    assert runs.get(f"{iid}/A") == 1
    assert runs.get(f"{child_id}/A") == 2
    assert runs.get(f"{child_id}/B") == 2


def test_rewind_unknown_instance_is_not_found(client, worker):
    with pytest.raises(grpc.RpcError) as err:
        client.rewind_orchestration(uid("rw-missing"), reason="nothing there")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_rewind_completed_instance_is_rejected(client, worker):
    iid = client.schedule_new_orchestration(a_then_b, input="z", instance_id=uid("rw-done"))
    assert complete(client, iid).runtime_status == Status.FAILED
    client.rewind_orchestration(iid)
    assert complete(client, iid).runtime_status == Status.COMPLETED

    with pytest.raises(grpc.RpcError) as err:
        client.rewind_orchestration(iid, reason="already completed")
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.COMPLETED
    assert runs.get(f"{iid}/B") == 2


def test_rewind_running_instance_is_rejected(client, worker):
    iid = client.schedule_new_orchestration(waits, instance_id=uid("rw-running"))
    wait_for_status(client, iid, Status.RUNNING)
    try:
        with pytest.raises(grpc.RpcError) as err:
            client.rewind_orchestration(iid, reason="still running")
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        state = client.get_orchestration_state(iid)
        assert state is not None and state.runtime_status == Status.RUNNING
    finally:
        client.terminate_orchestration(iid)
