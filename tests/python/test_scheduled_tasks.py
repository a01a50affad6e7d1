"""Scheduled tasks (durabletask.scheduled): a schedule entity that re-signals itself with a delay
and starts an orchestration every interval (protocol.md 4.4: delayed sendSignal and
startNewOrchestration actions); pausing or deleting the schedule stops the runs."""

import threading
from datetime import timedelta

import pytest

from durabletask import task
from durabletask.client import OrchestrationQuery
from durabletask.entities import EntityInstanceId
from durabletask.scheduled import ScheduleCreationOptions, ScheduledTaskClient, ScheduleStatus

from dt_e2e import Status, assert_stays, complete, running_worker_with_entities, uid, wait_until

INTERVAL = timedelta(seconds=1)  # the SDK's minimum
QUIET = 2.5  # after pause/delete, no new run may start for this long

runs_lock = threading.Lock()
runs: dict[str, set[str]] = {}  # schedule tag -> instance ids that ran


def scheduled_job(ctx: task.OrchestrationContext, tag: str):
    if not ctx.is_replaying:
        with runs_lock:
            runs.setdefault(tag, set()).add(ctx.instance_id)
    return tag


def run_count(tag: str) -> int:
    with runs_lock:
        return len(runs.get(tag, ()))


@pytest.fixture(scope="module")
def worker(server):
    with running_worker_with_entities(server.address, orchestrators=[scheduled_job], scheduled_tasks=True) as w:
        yield w


def started_instances(client, schedule_id: str) -> list[str]:
    """Instances the schedule started (the SDK names them `<schedule id>-<run time>`)."""
    states = client.get_all_orchestration_states(OrchestrationQuery(instance_id_prefix=f"{schedule_id}-"))
    return sorted(s.instance_id for s in states)


def create(client, tag: str):
    schedules = ScheduledTaskClient(client, operation_timeout=10)
    schedule_id = uid(f"sched-{tag}")
    handle = schedules.create_schedule(ScheduleCreationOptions(
        schedule_id=schedule_id, orchestration_name="scheduled_job", interval=INTERVAL,
        orchestration_input=schedule_id))
    return schedules, handle, schedule_id


def settle(client, schedule_id: str) -> int:
    """Waits until every instance the schedule started has run; returns how many there are."""
    started = started_instances(client, schedule_id)
    for iid in started:
        assert complete(client, iid, timeout=10).runtime_status == Status.COMPLETED
    wait_until(lambda: run_count(schedule_id) == len(started), timeout=10,
               message=f"{len(started)} recorded runs of {schedule_id}")
    return len(started)


def test_schedule_runs_repeatedly_and_delete_stops_it(client, worker):
    schedules, handle, schedule_id = create(client, "del")
    desc = schedules.get_schedule(schedule_id)
    assert desc is not None
    assert (desc.schedule_id, desc.orchestration_name, desc.interval, desc.status) == (
        schedule_id, "scheduled_job", INTERVAL, ScheduleStatus.ACTIVE)

    wait_until(lambda: run_count(schedule_id) >= 2, timeout=8, message=f"two runs of {schedule_id}")
    for iid in started_instances(client, schedule_id)[:2]:
        state = complete(client, iid, timeout=10)
        assert (state.name, state.get_output()) == ("scheduled_job", schedule_id)

    handle.delete()
    n = settle(client, schedule_id)
    assert n >= 2
    assert_stays(lambda: (run_count(schedule_id), len(started_instances(client, schedule_id))), (n, n), QUIET,
                 message=f"runs of deleted schedule {schedule_id}")
    assert schedules.get_schedule(schedule_id) is None


def test_paused_schedule_stops_running(client, worker):
    schedules, handle, schedule_id = create(client, "pause")
    try:
        wait_until(lambda: run_count(schedule_id) >= 1, timeout=8, message=f"a run of {schedule_id}")
        handle.pause()
        desc = schedules.get_schedule(schedule_id)
        assert desc is not None and desc.status == ScheduleStatus.PAUSED
        n = settle(client, schedule_id)
        assert_stays(lambda: (run_count(schedule_id), len(started_instances(client, schedule_id))), (n, n),
                     QUIET, message=f"runs of paused schedule {schedule_id}")
    finally:
        handle.delete()


def test_schedule_entity_is_listed_with_its_state(client, worker):
    schedules, handle, schedule_id = create(client, "list")
    try:
        listed = [d.schedule_id for d in schedules.list_schedules() if d.schedule_id == schedule_id]
        assert listed == [schedule_id]
        meta = client.get_entity(EntityInstanceId("schedule", schedule_id))
        assert meta is not None and str(meta.id) == f"@schedule@{schedule_id}"
    finally:
        handle.delete()
    wait_until(lambda: schedules.get_schedule(schedule_id) is None, timeout=10,
               message=f"schedule {schedule_id} to be gone")
