"""Delayed entity signals (scheduledTime): from the client, from an orchestration and from an
entity signalling itself (what the scheduled-tasks feature relies on). Each one must not run
before ~1.5 s of a 2 s delay and must run by ~5 s (protocol.md sections 4.2, 4.4, 4.5)."""

import time
from datetime import datetime, timedelta, timezone

import pytest

from durabletask import task
from durabletask.entities import EntityContext, EntityInstanceId

from dt_e2e import Status, assert_stays, complete, running_worker_with_entities, uid, wait_until

DELAY = 2.0        # seconds between sending a signal and its scheduled time
NOT_BEFORE = 1.5   # the state must not change for this long after the signal was sent
ARRIVES_BY = 5.0   # ... and must have changed this long after the signal was sent


def counter(ctx: EntityContext, value):
    current = ctx.get_state(int, 0)
    if ctx.operation == "add":
        ctx.set_state(current + value)
    elif ctx.operation == "add_later":
        # Re-signal itself with a delay; the state does not change now.
        due = datetime.now(timezone.utc) + timedelta(seconds=value["delay"])
        ctx.signal_entity(ctx.entity_id, "add", value["amount"], signal_time=due)
    else:
        raise ValueError(f"unknown operation {ctx.operation!r}")


def signals_later(ctx: task.OrchestrationContext, args):
    due = ctx.current_utc_datetime + timedelta(seconds=args["delay"])
    ctx.signal_entity(EntityInstanceId("counter", args["key"]), "add", args["amount"], signal_time=due)
    return "scheduled"


@pytest.fixture(scope="module")
def worker(server):
    with running_worker_with_entities(server.address, orchestrators=[signals_later], entities=[counter]) as w:
        yield w


def state_of(client, eid: EntityInstanceId):
    meta = client.get_entity(eid)
    return None if meta is None else meta.get_typed_state()


def seeded(client, value: int = 1) -> EntityInstanceId:
    """A fresh counter whose state is already `value` (so "unchanged" is observable)."""
    eid = EntityInstanceId("counter", uid("delay"))
    client.signal_entity(eid, "add", value)
    wait_until(lambda: state_of(client, eid) == value, timeout=10, message=f"{eid} to be seeded")
    return eid


def expect_delayed_change(client, eid: EntityInstanceId, sent_at: float, before, after) -> None:
    """`before` until NOT_BEFORE s after `sent_at` (monotonic), then `after` by ARRIVES_BY s."""
    assert_stays(lambda: state_of(client, eid), before, NOT_BEFORE - (time.monotonic() - sent_at),
                 message=f"{eid} state")
    remaining = ARRIVES_BY - (time.monotonic() - sent_at)
    wait_until(lambda: state_of(client, eid) == after, timeout=max(remaining, 0.1),
               message=f"{eid} to reach {after!r} within {ARRIVES_BY}s of the signal")


def test_client_delayed_signal(client, worker):
    eid = seeded(client)
    sent_at = time.monotonic()
    client.signal_entity(eid, "add", 10, signal_time=datetime.now(timezone.utc) + timedelta(seconds=DELAY))
    expect_delayed_change(client, eid, sent_at, before=1, after=11)


def test_client_signal_with_past_time_runs_now(client, worker):
    eid = seeded(client)
    client.signal_entity(eid, "add", 4, signal_time=datetime.now(timezone.utc) - timedelta(minutes=5))
    wait_until(lambda: state_of(client, eid) == 5, timeout=NOT_BEFORE,
               message=f"{eid} to reach 5 (a past scheduled time means now)")


def test_orchestration_delayed_signal(client, worker):
    eid = seeded(client)
    sent_at = time.monotonic()
    iid = client.schedule_new_orchestration(
        signals_later, input={"key": eid.key, "amount": 20, "delay": DELAY}, instance_id=uid("odelay"))
    # The orchestration does not wait for its signal to be delivered.
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED
    assert state.get_output() == "scheduled"
    expect_delayed_change(client, eid, sent_at, before=1, after=21)


def test_entity_signals_itself_with_delay(client, worker):
    eid = seeded(client)
    sent_at = time.monotonic()
    client.signal_entity(eid, "add_later", {"amount": 30, "delay": DELAY})
    expect_delayed_change(client, eid, sent_at, before=1, after=31)
