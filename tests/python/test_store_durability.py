"""dt-server on a durable store, a SQLite file (`--store sqlite://PATH`) or a PostgreSQL
database (`--store postgres://...`, skipped where none answers unless DT_REQUIRE_POSTGRES=1),
SIGKILLed and started again on the same store: nothing acknowledged is lost, no activity whose
result was taken runs again, work in flight is handed out again, timers that fell due while the
server was down fire, and waiting orchestrations resume.

The server runs as its own process so it can be killed for real; workers and clients are the
Python SDK, reconnected to the restarted server (a new port each time).
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from datetime import timedelta
from typing import Iterator

import pytest

from durabletask import task

from dt_e2e import (USING_BINARY, ServerHandle, Status, complete, new_client, postgres_database,
                    running_worker, start_server, uid, wait_until)

pytestmark = pytest.mark.skipif(not USING_BINARY, reason="kills the dt-server process")

_lock = threading.Lock()
_runs: Tally[str] = Tally()


def _record(key: str) -> None:
    with _lock:
        _runs[key] += 1


def step(ctx: task.ActivityContext, n: int) -> int:
    _record(f"{ctx.orchestration_id}:{n}")
    return n * 10


def steps(ctx: task.OrchestrationContext, count: int):
    total = 0
    for n in range(count):
        total += yield ctx.call_activity(step, input=n)
    return total


def waits_then_steps(ctx: task.OrchestrationContext, _):
    first = yield ctx.call_activity(step, input=1)
    ctx.set_custom_status("waiting")
    go = yield ctx.wait_for_external_event("go")
    second = yield ctx.call_activity(step, input=2)
    return [first, go, second]


def sleeps(ctx: task.OrchestrationContext, seconds: float):
    yield ctx.create_timer(timedelta(seconds=seconds))
    return "woke"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path) -> Iterator[str]:
    """A `--store` value for a new, empty durable store, kept for the whole test."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'dt.db'}"
        return
    database = postgres_database()
    try:
        yield database.url
    finally:
        database.drop()


def _server(store: str) -> ServerHandle:
    # On PostgreSQL a killed server's work is handed out again once its registration lapses
    # (--lease-seconds; a restarted server is a new one): keep that short here.
    lease = ["--lease-seconds", "2"] if store.startswith("postgres") else []
    return start_server(extra_args=["--no-http", "--store", store, *lease])


def _kill(server: ServerHandle) -> None:
    assert server.process is not None and server.process.poll() is None, "the server is running"
    server.process.kill()  # SIGKILL: no shutdown of any kind
    server.process.wait(timeout=10)
    server.process = None
    server.stop()


def _worker(address: str):
    return running_worker(address, orchestrators=[steps, waits_then_steps, sleeps],
                          activities=[step])


def test_kill_while_orchestrations_wait_loses_nothing_and_reruns_nothing(store):
    ids = [uid("wait") for _ in range(10)]
    server = _server(store)
    try:
        c = new_client(server.address)
        with _worker(server.address):
            for iid in ids:
                c.schedule_new_orchestration(waits_then_steps, instance_id=iid)
            # Each instance reports "waiting" only after its first activity's result was taken.
            for iid in ids:
                wait_until(lambda iid=iid: (s := c.get_orchestration_state(iid)) is not None
                           and s.serialized_custom_status == '"waiting"',
                           message=f"{iid} to wait for its event")
            sleeper = uid("sleep")
            c.schedule_new_orchestration(sleeps, input=1.0, instance_id=sleeper)
            wait_until(lambda: (s := c.get_orchestration_state(sleeper)) is not None
                       and s.runtime_status == Status.RUNNING, message="the timer to be set")
        c.close()
        _kill(server)
    finally:
        server.stop()

    # The timer falls due while no server runs.
    server = _server(store)
    try:
        c = new_client(server.address)
        for iid in ids:
            state = c.get_orchestration_state(iid)
            assert state is not None and state.runtime_status == Status.RUNNING, iid
            assert state.serialized_custom_status == '"waiting"', iid
        with _worker(server.address):
            for iid in ids:
                c.raise_orchestration_event(iid, "go", data=7)
            for iid in ids:
                state = complete(c, iid)
                assert state.runtime_status == Status.COMPLETED, state.failure_details
                assert state.serialized_output == "[10, 7, 20]"
            state = complete(c, sleeper)
            assert state.serialized_output == '"woke"'
        c.close()
    finally:
        server.stop()
    for iid in ids:
        # Runs are counted by the activity's input: 1 before the kill, 2 after.
        assert _runs[f"{iid}:1"] == 1, f"{iid}'s first activity ran {_runs[f'{iid}:1']} times"
        assert _runs[f"{iid}:2"] == 1, f"{iid}'s second activity ran {_runs[f'{iid}:2']} times"


def test_kill_in_the_middle_of_a_run_finishes_every_orchestration(store):
    count, length = 20, 5
    ids = [uid("mid") for _ in range(count)]
    server = _server(store)
    try:
        c = new_client(server.address)
        for iid in ids:
            c.schedule_new_orchestration(steps, input=length, instance_id=iid)
        with _worker(server.address):
            wait_until(lambda: sum(_runs[f"{iid}:{n}"] for iid in ids for n in range(length))
                       >= count * length // 2, message="half of the activities to run")
            _kill(server)  # while the worker is busy
        c.close()
    finally:
        server.stop()

    server = _server(store)
    try:
        c = new_client(server.address)
        with _worker(server.address):
            for iid in ids:
                state = complete(c, iid)
                assert state.runtime_status == Status.COMPLETED, state.failure_details
                assert state.serialized_output == str(sum(n * 10 for n in range(length)))
        c.close()
    finally:
        server.stop()
    runs = [_runs[f"{iid}:{n}"] for iid in ids for n in range(length)]
    assert min(runs) >= 1, "every activity ran"
    # Only activities whose result the dead server had not committed may run twice: at most
    # those the worker was running at the kill (its default concurrency is far below this).
    assert sum(runs) - len(runs) <= 16, f"{sum(runs) - len(runs)} activities ran again"
