"""Two dt-servers on one PostgreSQL database (`--store postgres://...`) form one task hub: a
client on either server sees every instance and reaches it, a worker on either server gets any
work, a waiter on one server wakes when a worker on the other completes the instance, timers and
delayed entity signals fire once, a long activity is not handed out again while its server
lives, and when one server is SIGKILLed the other hands out the work it held, about
`--lease-seconds` later, without applying any result twice.

Each test makes and drops its own database; every test skips where no PostgreSQL answers at
DT_TEST_POSTGRES_URL (fails instead with DT_REQUIRE_POSTGRES=1), as test_store_durability.py
does. A single server killed and restarted on its database is test_store_durability.py's.
`cargo xtask test` runs this file in its PostgreSQL step only; the other steps set
DT_E2E_SKIP_MULTI_SERVER so that it skips there instead of running the same tests again.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator

import pytest

from durabletask import history, task
from durabletask.entities import EntityContext, EntityInstanceId

from dt_e2e import (USING_BINARY, ServerHandle, Status, assert_stays, complete, new_client,
                    postgres_database, running_worker, running_worker_with_entities, start_server,
                    uid, wait_until)

pytestmark = [
    pytest.mark.skipif(not USING_BINARY, reason="starts two dt-server processes"),
    pytest.mark.skipif(os.environ.get("DT_E2E_SKIP_MULTI_SERVER", "").strip() == "1",
                       reason="cargo xtask test runs these in its PostgreSQL step"),
]

LEASE_SECONDS = 2


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def two_servers() -> Iterator[tuple[ServerHandle, ServerHandle]]:
    """Servers A and B on one new database, both with a short lease; stopped, and the database
    dropped, afterwards."""
    database = postgres_database()
    args = ["--no-http", "--store", database.url, "--lease-seconds", str(LEASE_SECONDS)]
    servers: list[ServerHandle] = []
    try:
        servers.append(start_server(extra_args=args))
        servers.append(start_server(extra_args=args))
        yield servers[0], servers[1]
    finally:
        for server in reversed(servers):
            server.stop()
        database.drop()


def _kill(server: ServerHandle) -> None:
    assert server.process is not None and server.process.poll() is None, "the server is running"
    server.process.kill()  # SIGKILL: no shutdown, no lease given back
    server.process.wait(timeout=10)
    server.process = None


@contextlib.contextmanager
def clients(*servers: ServerHandle) -> Iterator[list[Any]]:
    made = [new_client(s.address) for s in servers]
    try:
        yield made
    finally:
        for c in made:
            c.close()


# ---------------------------------------------------------------------------------------------
# Activity executions, recorded by the worker that ran them
# ---------------------------------------------------------------------------------------------

class Executions:
    """Every activity execution: which worker ran it, and whether it has returned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, list[str]] = {}
        self._running: dict[str, set[str]] = {}

    def started(self, key: str, worker: str) -> None:
        with self._lock:
            self._by_key.setdefault(key, []).append(worker)
            self._running.setdefault(worker, set()).add(key)

    def ended(self, key: str, worker: str) -> None:
        with self._lock:
            self._running.get(worker, set()).discard(key)

    def runs(self, key: str) -> list[str]:
        with self._lock:
            return list(self._by_key.get(key, []))

    def count(self, worker: str | None = None) -> int:
        with self._lock:
            return sum(1 for runs in self._by_key.values() for w in runs
                       if worker is None or w == worker)

    def running(self, worker: str) -> int:
        with self._lock:
            return len(self._running.get(worker, set()))


def value_of(n: int) -> int:
    """What activity `n` of an orchestration returns."""
    return n * 10 + 1


def work_activity(executions: Executions, worker: str, seconds: float) -> Callable[..., int]:
    """Activity `work`: records its run (by `worker`), takes `seconds`, returns value_of(n)."""
    def work(ctx: task.ActivityContext, n: int) -> int:
        key = f"{ctx.orchestration_id}:{n}"
        executions.started(key, worker)
        try:
            time.sleep(seconds)  # the activity's own work, so some are in flight at any moment
            return value_of(n)
        finally:
            executions.ended(key, worker)
    return work


def chain(ctx: task.OrchestrationContext, count: int):
    """Activities 0..count-1 one after another; the output lists their results in order."""
    results = []
    for n in range(count):
        results.append((yield ctx.call_activity("work", input=n)))
    return results


def waits_for_go(ctx: task.OrchestrationContext, _):
    ctx.set_custom_status("waiting")
    go = yield ctx.wait_for_external_event("go")
    first = yield ctx.call_activity("work", input=0)
    return [go, first]


def _workers(address: str, executions: Executions, worker: str, seconds: float = 0.0):
    return running_worker(address, orchestrators=[chain, waits_for_go],
                          activities=[("work", work_activity(executions, worker, seconds))])


def _assert_each_result_applied_once(c, iid: str, count: int) -> None:
    """The history schedules `count` activities and completes each scheduled task exactly once."""
    events = c.get_orchestration_history(iid)
    scheduled = [e.event_id for e in events if isinstance(e, history.TaskScheduledEvent)]
    completed = [e.task_scheduled_id for e in events if isinstance(e, history.TaskCompletedEvent)]
    assert len(scheduled) == count, f"{iid} scheduled {len(scheduled)} activities: {scheduled}"
    assert sorted(completed) == sorted(scheduled), \
        f"{iid}: completions {completed} for scheduled tasks {scheduled}"


# ---------------------------------------------------------------------------------------------
# a. One task hub
# ---------------------------------------------------------------------------------------------

def test_two_servers_on_one_database_are_one_task_hub():
    executions = Executions()
    length = 3
    with two_servers() as (a, b), clients(a, b) as (ca, cb):
        with _workers(a.address, executions, "A"), _workers(b.address, executions, "B"):
            from_a = [ca.schedule_new_orchestration(chain, input=length, instance_id=uid("hub-a"))
                      for _ in range(6)]
            from_b = [cb.schedule_new_orchestration(chain, input=length, instance_id=uid("hub-b"))
                      for _ in range(6)]
            expected = [value_of(n) for n in range(length)]
            for c, iid in [(ca, i) for i in from_a] + [(cb, i) for i in from_b]:
                state = complete(c, iid)
                assert state.runtime_status == Status.COMPLETED, state.failure_details
                assert state.get_output() == expected, iid
            # Each client reads the instances the other server's client created.
            for reader, ids in ((cb, from_a), (ca, from_b)):
                for iid in ids:
                    state = reader.get_orchestration_state(iid)
                    assert state is not None, f"{iid} is not visible through the other server"
                    assert state.runtime_status == Status.COMPLETED, iid
                    assert state.get_output() == expected, iid

            # An event raised through B reaches an instance started through A.
            waiting = ca.schedule_new_orchestration(waits_for_go, instance_id=uid("hub-event"))
            wait_until(lambda: (s := ca.get_orchestration_state(waiting)) is not None
                       and s.serialized_custom_status == '"waiting"',
                       message=f"{waiting} to wait for its event")
            cb.raise_orchestration_event(waiting, "go", data="from B")
            state = complete(ca, waiting)
            assert state.runtime_status == Status.COMPLETED, state.failure_details
            assert state.get_output() == ["from B", value_of(0)]

        # A waiter on A wakes when the only worker, on B, completes the instance. The instance
        # waits for an event, so it cannot complete before the waiter is in place.
        gated = ca.schedule_new_orchestration(waits_for_go, instance_id=uid("hub-wait"))
        woke: list[Any] = []
        waiter = threading.Thread(
            target=lambda: woke.append(ca.wait_for_orchestration_completion(gated, timeout=60)),
            name="waiter-on-A", daemon=True)
        waiter.start()
        with _workers(b.address, executions, "B"):
            wait_until(lambda: (s := cb.get_orchestration_state(gated)) is not None
                       and s.serialized_custom_status == '"waiting"',
                       message=f"{gated} to run on B's worker")
            assert_stays(lambda: bool(woke), False, 0.5, message="the waiter on A returned")
            cb.raise_orchestration_event(gated, "go", data=1)
            wait_until(lambda: bool(woke), message="the waiter on A to wake")
        waiter.join(timeout=10)
        state = woke[0]
        assert state is not None and state.runtime_status == Status.COMPLETED, state
        assert state.get_output() == [1, value_of(0)]
        assert executions.runs(f"{gated}:0") == ["B"], "only B's worker was connected"


# ---------------------------------------------------------------------------------------------
# b. A server killed while its worker runs activities
# ---------------------------------------------------------------------------------------------

def test_a_killed_servers_work_is_handed_out_again_by_the_other():
    executions = Executions()
    count, length = 16, 4
    with two_servers() as (a, b), clients(a) as (ca,):
        ids = [uid("kill") for _ in range(count)]
        with _workers(a.address, executions, "A", seconds=0.3), \
                contextlib.ExitStack() as on_b:
            on_b.enter_context(_workers(b.address, executions, "B", seconds=0.3))
            for iid in ids:
                ca.schedule_new_orchestration(chain, input=length, instance_id=iid)
            # Kill B once a quarter of the work has run and B's worker is in the middle of some.
            wait_until(lambda: executions.count() >= count * length // 4
                       and executions.count("A") > 0 and executions.running("B") > 0,
                       message=lambda: (f"a quarter of the activities to run with one running on "
                                        f"B ({executions.count('A')} on A, "
                                        f"{executions.count('B')} on B, "
                                        f"{executions.running('B')} running on B)"))
            _kill(b)
            on_b.close()  # B's worker goes with its server

            expected = [value_of(n) for n in range(length)]
            for iid in ids:
                state = complete(ca, iid, timeout=30 + 2 * LEASE_SECONDS)
                assert state.runtime_status == Status.COMPLETED, state.failure_details
                assert state.get_output() == expected, iid
                _assert_each_result_applied_once(ca, iid, length)

    # Every activity ran; one ran twice only if B's worker had it (work the dead server handed
    # out whose result it never committed), and then once on each worker.
    again = []
    for iid in ids:
        for n in range(length):
            runs = executions.runs(f"{iid}:{n}")
            assert runs, f"{iid}'s activity {n} never ran"
            assert runs.count("A") <= 1 and runs.count("B") <= 1, \
                f"{iid}'s activity {n} ran {runs} (a live server handed it out twice)"
            if len(runs) > 1:
                again.append(f"{iid}:{n}")
    assert len(again) <= executions.count("B"), again


# ---------------------------------------------------------------------------------------------
# c. Timers and delayed entity signals fire once
# ---------------------------------------------------------------------------------------------

TIMERS = 3


def naps(ctx: task.OrchestrationContext, _):
    """Three short timers in a row; counts the continuations that ran after each."""
    fired = 0
    for _ in range(TIMERS):
        yield ctx.create_timer(timedelta(seconds=0.5))
        fired += 1
    return fired


def recorder(ctx: EntityContext, value):
    """Keeps the list of values it was told to record."""
    ctx.set_state(ctx.get_state(list, []) + [value])


def test_timers_and_delayed_signals_fire_once_across_servers():
    signals = 6
    with two_servers() as (a, b), clients(a, b) as (ca, cb):
        workers = [running_worker_with_entities(s.address, orchestrators=[naps],
                                                entities=[("recorder", recorder)])
                   for s in (a, b)]
        with workers[0], workers[1]:
            # Signals due a second from now, half through each server, so each server's
            # scheduler sees them all come due.
            eid = EntityInstanceId("recorder", uid("once"))
            due = datetime.now(timezone.utc) + timedelta(seconds=1)
            for i in range(signals):
                (ca, cb)[i % 2].signal_entity(eid, "record", i, signal_time=due)
            ids = [(ca, cb)[i % 2].schedule_new_orchestration(naps, instance_id=uid("naps"))
                   for i in range(8)]
            for iid in ids:
                state = complete(ca, iid)
                assert state.runtime_status == Status.COMPLETED, state.failure_details
                assert state.get_output() == TIMERS, iid
                events = ca.get_orchestration_history(iid)
                created = [e.event_id for e in events if isinstance(e, history.TimerCreatedEvent)]
                fired = [e.timer_id for e in events if isinstance(e, history.TimerFiredEvent)]
                assert len(created) == TIMERS, f"{iid} created timers {created}"
                assert sorted(fired) == sorted(created), f"{iid}: timers {created} fired {fired}"

            def recorded() -> list[int]:
                meta = cb.get_entity(eid)
                return [] if meta is None else meta.get_typed_state() or []

            # The timers above took 1.5 s, past the signals' due time, so a second delivery of
            # a signal has had as long as the first to arrive.
            wait_until(lambda: len(recorded()) >= signals, message=f"{eid} to get every signal")
            assert sorted(recorded()) == list(range(signals)), "a signal ran twice or never"


# ---------------------------------------------------------------------------------------------
# d. A long activity is not rerun
# ---------------------------------------------------------------------------------------------

def test_an_activity_longer_than_the_lease_runs_once():
    executions = Executions()
    seconds = 3 * LEASE_SECONDS
    with two_servers() as (a, b), clients(a) as (ca,):
        with _workers(a.address, executions, "A", seconds=seconds), \
                _workers(b.address, executions, "B", seconds=seconds):
            iid = ca.schedule_new_orchestration(chain, input=1, instance_id=uid("long"))
            try:
                state = complete(ca, iid, timeout=30 + seconds)
            except TimeoutError:
                pytest.fail(f"{iid} did not complete; its activity ran {executions.runs(f'{iid}:0')} "
                            "(a run whose lease was taken away cannot complete it)")
            assert state.runtime_status == Status.COMPLETED, state.failure_details
            assert state.get_output() == [value_of(0)]
    # Each run records itself when it starts, so a second one handed out after a lease or two
    # would show although the first one's result was taken.
    runs = executions.runs(f"{iid}:0")
    assert len(runs) == 1, f"the {seconds} s activity ran {len(runs)} times ({runs})"


# ---------------------------------------------------------------------------------------------
# f. The database server restarted mid-run
# ---------------------------------------------------------------------------------------------

RESTART_COMMAND = os.environ.get("DT_TEST_POSTGRES_RESTART_COMMAND", "").strip()


@pytest.mark.skipif(not RESTART_COMMAND,
                    reason="restarting the PostgreSQL server disturbs every other user of it: set "
                           "DT_TEST_POSTGRES_RESTART_COMMAND (e.g. 'pg_ctlcluster "
                           "--skip-systemctl-redirect 15 main restart') to run it")
def test_servers_carry_on_when_the_database_server_restarts():
    """Both servers lose every session at once; RPCs made meanwhile fail with UNAVAILABLE (a
    worker's lost answer included), the servers reconnect, hand out again what they held, and
    every orchestration completes with each result applied once."""
    import subprocess

    executions = Executions()
    count, length = 10, 4
    with two_servers() as (a, b), clients(a) as (ca,):
        ids = [uid("restart") for _ in range(count)]
        with _workers(a.address, executions, "A", seconds=0.2), \
                _workers(b.address, executions, "B", seconds=0.2):
            for iid in ids:
                ca.schedule_new_orchestration(chain, input=length, instance_id=iid)
            wait_until(lambda: executions.count() >= count * length // 4,
                       message="a quarter of the activities to run")
            subprocess.run(RESTART_COMMAND, shell=True, check=True, timeout=120)
            expected = [value_of(n) for n in range(length)]

            def finished(iid: str) -> Any:
                try:
                    state = ca.get_orchestration_state(iid)
                except Exception:  # UNAVAILABLE while the database is down
                    return None
                done = (Status.COMPLETED, Status.FAILED, Status.TERMINATED)
                return state if state is not None and state.runtime_status in done else None

            for iid in ids:
                state = wait_until(lambda: finished(iid), timeout=120,
                                   message=f"{iid} to finish after the restart")
                assert state.runtime_status == Status.COMPLETED, state.failure_details
                assert state.get_output() == expected, iid
                _assert_each_result_applied_once(ca, iid, length)
