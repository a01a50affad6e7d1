"""PurgeInstances by id (plain and recursive) and by filter."""

from datetime import datetime, timezone

import pytest

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid, wait_for_status


def finishes(ctx: task.OrchestrationContext, _):
    return "finished"


def fails(ctx: task.OrchestrationContext, _):
    raise RuntimeError("intentional")


def waits(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")


def parent_with_child(ctx: task.OrchestrationContext, _):
    result = yield ctx.call_sub_orchestrator(finishes, instance_id=f"{ctx.instance_id}-child")
    return result


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[finishes, fails, waits, parent_with_child]) as w:
        yield w


def test_purge_completed_instance(client, worker):
    iid = client.schedule_new_orchestration(finishes, instance_id=uid("purge"))
    assert complete(client, iid).runtime_status == Status.COMPLETED
    result = client.purge_orchestration(iid)
    assert result.deleted_instance_count == 1
    assert client.get_orchestration_state(iid) is None
    # Purging again finds nothing.
    assert client.purge_orchestration(iid).deleted_instance_count == 0


def test_purge_running_instance_deletes_nothing(client, worker):
    iid = client.schedule_new_orchestration(waits, instance_id=uid("purge-run"))
    client.wait_for_orchestration_start(iid, timeout=30)
    result = client.purge_orchestration(iid)
    assert result.deleted_instance_count == 0
    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.RUNNING
    client.terminate_orchestration(iid)
    assert complete(client, iid).runtime_status == Status.TERMINATED


def test_purge_unknown_instance(client, worker):
    assert client.purge_orchestration(uid("missing")).deleted_instance_count == 0


def test_purge_by_filter_removes_only_matching_terminal_instances(client, worker):
    before = client.schedule_new_orchestration(finishes, instance_id=uid("pf-before"))
    complete(client, before)

    t_from = datetime.now(timezone.utc)
    done = client.schedule_new_orchestration(finishes, instance_id=uid("pf-done"))
    failed = client.schedule_new_orchestration(fails, instance_id=uid("pf-failed"))
    running = client.schedule_new_orchestration(waits, instance_id=uid("pf-running"))
    assert complete(client, done).runtime_status == Status.COMPLETED
    assert complete(client, failed).runtime_status == Status.FAILED
    wait_for_status(client, running, Status.RUNNING)
    t_to = datetime.now(timezone.utc)

    after = client.schedule_new_orchestration(finishes, instance_id=uid("pf-after"))
    complete(client, after)

    only_completed = client.purge_orchestrations_by(created_time_from=t_from, created_time_to=t_to,
                                                    runtime_status=[Status.COMPLETED])
    assert only_completed.deleted_instance_count == 1
    assert only_completed.is_complete is True
    assert client.get_orchestration_state(done) is None
    assert client.get_orchestration_state(failed) is not None

    any_status = client.purge_orchestrations_by(created_time_from=t_from, created_time_to=t_to)
    assert any_status.deleted_instance_count == 1  # the failed one; the running one is kept
    assert client.get_orchestration_state(failed) is None
    still_running = client.get_orchestration_state(running)
    assert still_running is not None and still_running.runtime_status == Status.RUNNING
    for outside in (before, after):
        state = client.get_orchestration_state(outside)
        assert state is not None and state.runtime_status == Status.COMPLETED

    client.terminate_orchestration(running)
    complete(client, running)


@pytest.mark.fixes_reference("recursive purge is ignored")
def test_recursive_purge_removes_sub_orchestration(client, worker):
    iid = client.schedule_new_orchestration(parent_with_child, instance_id=uid("purge-rec"))
    assert complete(client, iid).get_output() == "finished"
    child_id = f"{iid}-child"
    assert client.get_orchestration_state(child_id) is not None
    result = client.purge_orchestration(iid, recursive=True)
    assert result.deleted_instance_count == 2
    assert client.get_orchestration_state(iid) is None
    assert client.get_orchestration_state(child_id) is None
