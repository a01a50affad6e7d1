"""CreateTaskHub(recreateIfExists) and DeleteTaskHub empty the server's one task hub: work held
by a connected worker at that moment is forgotten, and the worker keeps every one of its
concurrency slots for the work that comes next."""

from __future__ import annotations

import threading

import pytest

from durabletask import task
from durabletask.internal import orchestrator_service_pb2 as pb
from durabletask.worker import ConcurrencyOptions

from dt_e2e import WAIT, Status, complete, running_worker, uid

_started = threading.Event()
_release = threading.Event()


def held_act(ctx: task.ActivityContext, _) -> str:
    _started.set()
    _release.wait(WAIT)
    return "too late"


def held_orch(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_activity(held_act))


def next_act(ctx: task.ActivityContext, _) -> str:
    return "next"


def next_orch(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_activity(next_act))


def _delete(client) -> None:
    client._stub.DeleteTaskHub(pb.DeleteTaskHubRequest())


def _recreate(client) -> None:
    client._stub.CreateTaskHub(pb.CreateTaskHubRequest(recreateIfExists=True))


@pytest.mark.parametrize("empty_hub", [_delete, _recreate], ids=["DeleteTaskHub", "CreateTaskHub-recreate"])
def test_worker_holding_its_only_activity_slot_through_a_reset_gets_the_next_activity(server, client, empty_hub):
    _started.clear()
    _release.clear()
    one_activity = ConcurrencyOptions(maximum_concurrent_activity_work_items=1)
    with running_worker(server.address, [held_orch, next_orch], [held_act, next_act],
                        concurrency_options=one_activity):
        client.schedule_new_orchestration(held_orch, instance_id=uid("held"))
        assert _started.wait(WAIT), "the first activity never started"
        empty_hub(client)
        _release.set()  # its answer now names a lease the reset forgot: ignored
        iid = client.schedule_new_orchestration(next_orch, instance_id=uid("next"))
        state = complete(client, iid, timeout=15)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.get_output() == "next"
