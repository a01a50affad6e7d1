"""Time skipping through the real Python SDK (client and worker) against the package's
in-process backend with `time_skipping=True`: long timers finish at once and the
orchestration sees the time pass, events and activities still win their races, explicit
skips fire exactly what is due, and without the option time is real.

No assertion is about wall time except the off case's lower bound: each wait's timeout (far
shorter than the timers) is what proves the skip happened.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from durabletask import task
from durabletask.client import OrchestrationStatus, TaskHubGrpcClient
from durabletask.entities import EntityInstanceId
from durabletask.worker import TaskHubGrpcWorker

from conftest import wait_until
from durabletask_rs.testing import InMemoryOrchestrationBackend, create_test_backend

WAIT = 30  # seconds; every timer below is hours or days, so only a skip finishes in time


@pytest.fixture
def backend():
    backend = create_test_backend(port=0, time_skipping=True)
    yield backend
    backend.stop()


def _worker(backend, orchestrators=(), activities=(), entities=()):
    worker = TaskHubGrpcWorker(host_address=backend.address)
    for fn in orchestrators:
        worker.add_orchestrator(fn)
    for fn in activities:
        worker.add_activity(fn)
    for fn in entities:
        worker.add_entity(fn)
    worker.start()
    return worker


def _client(backend):
    return TaskHubGrpcClient(host_address=backend.address)


def _running(client, instance_id):
    state = client.get_orchestration_state(instance_id)
    return state is not None and state.runtime_status == OrchestrationStatus.RUNNING


def thirty_days(ctx: task.OrchestrationContext, _):
    start = ctx.current_utc_datetime
    yield ctx.create_timer(timedelta(days=30))
    return (ctx.current_utc_datetime - start).total_seconds()


def test_a_30_day_timer_completes_and_the_orchestration_sees_30_days(backend):
    worker = _worker(backend, [thirty_days])
    try:
        client = _client(backend)
        before = backend.now()
        iid = client.schedule_new_orchestration(thirty_days)
        state = client.wait_for_orchestration_completion(iid, timeout=WAIT)
        assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED
        assert float(state.serialized_output) >= 30 * 86400
        assert backend.now() - before >= timedelta(days=30)
        assert backend.now().tzinfo is not None
    finally:
        worker.stop()


def event_or_timeout(ctx: task.OrchestrationContext, _):
    event = ctx.wait_for_external_event("go")
    timeout = ctx.create_timer(timedelta(hours=1))
    winner = yield task.when_any([event, timeout])
    return "event" if winner == event else "timeout"


def test_an_event_raised_before_the_wait_beats_the_timeout(backend):
    worker = _worker(backend, [event_or_timeout])
    try:
        client = _client(backend)
        iid = client.schedule_new_orchestration(event_or_timeout)
        # Polling is not a wait: no demand, so no skip while the timer is set.
        wait_until(lambda: _running(client, iid), "the orchestration to set its timer")
        client.raise_orchestration_event(iid, "go")
        state = client.wait_for_orchestration_completion(iid, timeout=WAIT)
        assert state is not None and state.serialized_output == '"event"'
    finally:
        worker.stop()


def test_with_nobody_raising_the_timeout_wins_at_once(backend):
    worker = _worker(backend, [event_or_timeout])
    try:
        client = _client(backend)
        iid = client.schedule_new_orchestration(event_or_timeout)
        state = client.wait_for_orchestration_completion(iid, timeout=WAIT)
        assert state is not None and state.serialized_output == '"timeout"'
    finally:
        worker.stop()


def sleepy(ctx: task.ActivityContext, _):
    time.sleep(2)
    return "done"


def activity_or_timeout(ctx: task.OrchestrationContext, _):
    work = ctx.call_activity(sleepy)
    timeout = ctx.create_timer(timedelta(hours=1))
    winner = yield task.when_any([work, timeout])
    return "activity" if winner == work else "timeout"


def test_a_running_activity_is_never_overtaken_by_a_timer(backend):
    worker = _worker(backend, [activity_or_timeout], [sleepy])
    try:
        client = _client(backend)
        iid = client.schedule_new_orchestration(activity_or_timeout)
        state = client.wait_for_orchestration_completion(iid, timeout=WAIT)
        assert state is not None and state.serialized_output == '"activity"'
    finally:
        worker.stop()


def one_day(ctx: task.OrchestrationContext, _):
    start = ctx.current_utc_datetime
    yield ctx.create_timer(timedelta(days=1))
    return (ctx.current_utc_datetime - start).total_seconds()


def test_a_thousand_one_day_timers_complete(backend):
    worker = _worker(backend, [one_day])
    try:
        client = _client(backend)
        ids = [client.schedule_new_orchestration(one_day) for _ in range(1000)]
        for iid in ids:
            state = client.wait_for_orchestration_completion(iid, timeout=WAIT)
            assert state is not None and state.runtime_status == OrchestrationStatus.COMPLETED
            assert float(state.serialized_output) >= 86400
    finally:
        worker.stop()


def mailbox(ctx, _):
    # On the delayed signal: start an orchestration the test waits for.
    ctx.schedule_new_orchestration("delivered", input="mail", instance_id="delivered-1")


def delivered(ctx: task.OrchestrationContext, value):
    return value


def test_a_delayed_entity_signal_a_day_out_is_delivered_at_once(backend):
    worker = _worker(backend, [delivered], entities=[mailbox])
    try:
        client = _client(backend)
        sent = backend.now()
        client.signal_entity(EntityInstanceId("mailbox", "k"), "deliver",
                             signal_time=sent + timedelta(days=1))
        # Waiting for an instance that the delivery creates is the demand.
        state = client.wait_for_orchestration_completion("delivered-1", timeout=WAIT)
        assert state is not None and state.serialized_output == '"mail"'
        assert backend.now() - sent >= timedelta(days=1)
    finally:
        worker.stop()


def sleeper(ctx: task.OrchestrationContext, minutes: int):
    yield ctx.create_timer(timedelta(minutes=minutes))
    return minutes


def test_skip_under_a_lock_fires_exactly_the_timers_due_within_it(backend):
    worker = _worker(backend, [sleeper])
    try:
        client = _client(backend)
        with backend.time_skipping_locked():
            start = backend.now()
            ids = {m: client.schedule_new_orchestration(sleeper, input=m) for m in (30, 59, 61, 120)}
            wait_until(lambda: all(_running(client, i) for i in ids.values()),
                       "every orchestration to set its timer")
            after = backend.skip(timedelta(hours=1))
            assert after - start >= timedelta(hours=1)
            for m in (30, 59):
                state = client.wait_for_orchestration_completion(ids[m], timeout=WAIT)
                assert state is not None and state.serialized_output == str(m)
            status = wait_until(
                lambda: (s := backend.time_skipping_status())["blocker_count"] == 0 and s,
                "the store to be idle")
            assert status["holds"] == 1
            assert status["next_target"] is not None
            for m in (61, 120):
                assert _running(client, ids[m]), f"the {m}-minute timer fired"
        # Unlocked, a wait skips to the rest.
        state = client.wait_for_orchestration_completion(ids[120], timeout=WAIT)
        assert state is not None and state.serialized_output == "120"
    finally:
        worker.stop()


def test_now_and_skip_without_instances(backend):
    now = backend.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs(now - datetime.now(timezone.utc)) < timedelta(minutes=1)
    after = backend.skip(timedelta(days=2))
    assert after - now >= timedelta(days=2)
    assert backend.now() >= after
    with pytest.raises(ValueError):
        backend.skip(timedelta(seconds=-1))
    with pytest.raises(RuntimeError, match="not locked"):
        backend.unlock_time_skipping()


def one_second(ctx: task.OrchestrationContext, _):
    yield ctx.create_timer(timedelta(seconds=1))
    return "done"


def test_without_the_option_time_is_real():
    with InMemoryOrchestrationBackend(port=0) as backend:
        worker = _worker(backend, [one_second])
        try:
            client = _client(backend)
            started = time.monotonic()
            iid = client.schedule_new_orchestration(one_second)
            state = client.wait_for_orchestration_completion(iid, timeout=WAIT)
            elapsed = time.monotonic() - started
            assert state is not None and state.serialized_output == '"done"'
            assert elapsed >= 1.0, f"a 1 s timer fired after {elapsed:.3f} s"
        finally:
            worker.stop()
        assert backend.time_skipping_status()["enabled"] is False
        with pytest.raises(RuntimeError, match="time skipping is off"):
            backend.skip(timedelta(hours=1))
        with pytest.raises(RuntimeError, match="time skipping is off"):
            backend.lock_time_skipping()
