"""External events: RaiseEvent delivery, ordering, and event-vs-timeout races."""

from datetime import timedelta

import grpc
import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid


def wait_one(ctx: task.OrchestrationContext, _):
    value = yield ctx.wait_for_external_event("approval")
    return value


def wait_three_same_name(ctx: task.OrchestrationContext, _):
    received = []
    for _ in range(3):
        received.append((yield ctx.wait_for_external_event("item")))
    return received


def event_or_timeout(ctx: task.OrchestrationContext, timeout_s: float):
    event = ctx.wait_for_external_event("reply")
    timer = ctx.create_timer(timedelta(seconds=timeout_s))
    winner = yield task.when_any([event, timer])
    if winner is event:
        return {"path": "event", "value": event.get_result()}
    return {"path": "timeout"}


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address,
                        orchestrators=[wait_one, wait_three_same_name, event_or_timeout]) as w:
        yield w


def test_event_payload_becomes_output(client, worker):
    iid = client.schedule_new_orchestration(wait_one, instance_id=uid("evt"))
    started = client.wait_for_orchestration_start(iid, timeout=30)
    assert started is not None and started.runtime_status == Status.RUNNING
    payload = {"approved": True, "by": "alice", "level": 3}
    client.raise_orchestration_event(iid, "approval", data=payload)
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == payload


def test_event_raised_before_orchestration_waits(client, worker):
    # Raised right after scheduling, possibly before the first episode ran: it must not be lost.
    iid = client.schedule_new_orchestration(wait_one, instance_id=uid("evt-early"))
    client.raise_orchestration_event(iid, "approval", data="early")
    state = complete(client, iid)
    assert (state.runtime_status, state.get_output()) == (Status.COMPLETED, "early")


def test_same_name_events_consumed_in_arrival_order(client, worker):
    iid = client.schedule_new_orchestration(wait_three_same_name, instance_id=uid("evt-order"))
    client.wait_for_orchestration_start(iid, timeout=30)
    for value in ("first", "second", "third"):
        client.raise_orchestration_event(iid, "item", data=value)
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == ["first", "second", "third"]


def test_event_wins_over_timeout(client, worker):
    iid = client.schedule_new_orchestration(event_or_timeout, input=20, instance_id=uid("evt-race"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.raise_orchestration_event(iid, "reply", data=42)
    state = complete(client, iid, timeout=15)  # well before the 20 s timer
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"path": "event", "value": 42}


def test_timeout_wins_without_event(client, worker):
    iid = client.schedule_new_orchestration(event_or_timeout, input=0.5, instance_id=uid("evt-timeout"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"path": "timeout"}


def test_raise_event_to_unknown_instance_is_not_found(client, worker):
    with pytest.raises(grpc.RpcError) as err:
        client.raise_orchestration_event(uid("missing"), "approval", data=1)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_raise_event_to_completed_instance_is_ignored(client, worker):
    iid = client.schedule_new_orchestration(wait_one, instance_id=uid("evt-done"))
    client.raise_orchestration_event(iid, "approval", data="once")
    assert complete(client, iid).get_output() == "once"
    client.raise_orchestration_event(iid, "approval", data="twice")  # OK, dropped
    state = client.get_orchestration_state(iid)
    assert state is not None
    assert (state.runtime_status, state.get_output()) == (Status.COMPLETED, "once")
