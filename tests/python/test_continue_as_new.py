"""continue_as_new: counters, carried-over events, and waiters across generations."""

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid


def counter(ctx: task.OrchestrationContext, n: int):
    if n < 5:
        ctx.continue_as_new(n + 1)
        return None
    return {"final": n, "instance_id": ctx.instance_id}


def collect_events(ctx: task.OrchestrationContext, so_far):
    so_far = list(so_far or [])
    value = yield ctx.wait_for_external_event("value")
    so_far.append(value)
    if len(so_far) < 5:
        ctx.continue_as_new(so_far, save_events=True)
        return None
    return so_far


def activity_then_continue(ctx: task.OrchestrationContext, n: int):
    doubled = yield ctx.call_activity(double, input=n)
    if n < 3:
        ctx.continue_as_new(n + 1)
        return None
    return doubled


def double(ctx: task.ActivityContext, n: int) -> int:
    return 2 * n


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[counter, collect_events, activity_then_continue],
                        activities=[double]) as w:
        yield w


def test_counter_continues_as_new_five_times(client, worker):
    iid = client.schedule_new_orchestration(counter, input=0, instance_id=uid("can"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"final": 5, "instance_id": iid}
    assert state.get_input() == 5  # the input of the last generation


def test_saved_events_are_carried_over(client, worker):
    iid = client.schedule_new_orchestration(collect_events, input=[], instance_id=uid("can-ev"))
    client.wait_for_orchestration_start(iid, timeout=30)
    # Raised back to back: most arrive while a generation is still running and must be carried
    # over (save_events=True) or kept for the next generation, never lost or reordered.
    for i in range(1, 6):
        client.raise_orchestration_event(iid, "value", data=i)
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == [1, 2, 3, 4, 5]


def test_activity_results_with_continue_as_new(client, worker):
    iid = client.schedule_new_orchestration(activity_then_continue, input=0, instance_id=uid("can-act"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == 6
