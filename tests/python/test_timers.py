"""Durable timers and when_any races between timers and events."""

import time
from datetime import timedelta

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid


def one_second_timer(ctx: task.OrchestrationContext, _):
    start = ctx.current_utc_datetime
    yield ctx.create_timer(timedelta(seconds=1))
    return (ctx.current_utc_datetime - start).total_seconds()


def past_timer(ctx: task.OrchestrationContext, _):
    yield ctx.create_timer(ctx.current_utc_datetime - timedelta(hours=1))
    return "fired"


def two_timers(ctx: task.OrchestrationContext, _):
    short = ctx.create_timer(timedelta(milliseconds=300))
    long = ctx.create_timer(timedelta(seconds=30))
    winner = yield task.when_any([long, short])
    return "short" if winner is short else "long"


def timers_and_events(ctx: task.OrchestrationContext, short_timer_s: float):
    go = ctx.wait_for_external_event("go")
    stop = ctx.wait_for_external_event("stop")
    short = ctx.create_timer(timedelta(seconds=short_timer_s))
    long = ctx.create_timer(timedelta(seconds=60))
    winner = yield task.when_any([go, stop, short, long])
    names = {id(go): "go", id(stop): "stop", id(short): "short-timer", id(long): "long-timer"}
    result = {"winner": names[id(winner)]}
    if winner in (go, stop):
        result["data"] = winner.get_result()
    return result


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address,
                        orchestrators=[one_second_timer, past_timer, two_timers, timers_and_events]) as w:
        yield w


def test_one_second_timer(client, worker):
    t0 = time.monotonic()
    iid = client.schedule_new_orchestration(one_second_timer, instance_id=uid("timer"))
    state = complete(client, iid)
    elapsed = time.monotonic() - t0
    assert state.runtime_status == Status.COMPLETED
    assert elapsed >= 1.0
    # The orchestration clock (OrchestratorStarted timestamps) also advanced by at least 1 s.
    assert state.get_output() >= 1.0


def test_timer_in_the_past_fires_immediately(client, worker):
    iid = client.schedule_new_orchestration(past_timer, instance_id=uid("past"))
    state = complete(client, iid, timeout=15)
    assert (state.runtime_status, state.get_output()) == (Status.COMPLETED, "fired")


def test_when_any_of_timers_shorter_wins(client, worker):
    t0 = time.monotonic()
    iid = client.schedule_new_orchestration(two_timers, instance_id=uid("2timers"))
    state = complete(client, iid)
    assert (state.runtime_status, state.get_output()) == (Status.COMPLETED, "short")
    assert time.monotonic() - t0 < 25  # did not wait for the 30 s timer


def test_when_any_timers_and_events_event_wins(client, worker):
    iid = client.schedule_new_orchestration(timers_and_events, input=30, instance_id=uid("te-evt"))
    client.wait_for_orchestration_start(iid, timeout=30)
    client.raise_orchestration_event(iid, "stop", data="halt")
    state = complete(client, iid, timeout=20)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"winner": "stop", "data": "halt"}


def test_when_any_timers_and_events_timer_wins(client, worker):
    iid = client.schedule_new_orchestration(timers_and_events, input=0.5, instance_id=uid("te-timer"))
    state = complete(client, iid, timeout=20)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == {"winner": "short-timer"}
