"""Orchestrations raising events on each other (`ctx.send_event`): delivered to a waiting
instance once, dropped without error for a missing or finished one, and never re-running a
finished receiver."""

from __future__ import annotations

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid, wait_for_status


def receiver(ctx: task.OrchestrationContext, _):
    first = yield ctx.wait_for_external_event("ping")
    return {"got": first}


def sender(ctx: task.OrchestrationContext, target: str):
    ctx.send_event(target, "ping", data={"from": ctx.instance_id})
    # A timer after the send makes the sender replay the send at least once.
    yield ctx.create_timer(ctx.current_utc_datetime)
    return "sent"


_receiver_runs: dict[str, int] = {}


def counting_receiver(ctx: task.OrchestrationContext, _):
    if not ctx.is_replaying:
        _receiver_runs[ctx.instance_id] = _receiver_runs.get(ctx.instance_id, 0) + 1
    return "done"


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[receiver, sender, counting_receiver]) as w:
        yield w


def test_event_sent_by_an_orchestration_reaches_a_waiting_one(client, worker):
    target = client.schedule_new_orchestration(receiver, instance_id=uid("rx"))
    wait_for_status(client, target, Status.RUNNING)
    source = client.schedule_new_orchestration(sender, input=target, instance_id=uid("tx"))
    assert complete(client, source).get_output() == "sent"
    state = complete(client, target)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"got": {"from": source}}


def test_event_to_a_missing_instance_is_dropped_and_the_sender_completes(client, worker):
    missing = uid("nobody")
    source = client.schedule_new_orchestration(sender, input=missing, instance_id=uid("tx"))
    state = complete(client, source)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == "sent"
    assert client.get_orchestration_state(missing) is None


def test_event_to_a_finished_instance_does_not_run_it_again(client, worker):
    target = client.schedule_new_orchestration(counting_receiver, instance_id=uid("done"))
    assert complete(client, target).get_output() == "done"
    source = client.schedule_new_orchestration(sender, input=target, instance_id=uid("tx"))
    assert complete(client, source).get_output() == "sent"
    after = client.get_orchestration_state(target)
    assert after.runtime_status == Status.COMPLETED
    assert after.get_output() == "done"
    assert _receiver_runs[target] == 1
