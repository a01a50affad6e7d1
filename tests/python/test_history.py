"""StreamInstanceHistory (client.get_orchestration_history): event order, timestamps, id links,
chunking of long histories, and unknown instances."""

from datetime import datetime, timedelta, timezone

import grpc
import pytest

from durabletask import history, task
from durabletask.internal import orchestrator_service_pb2 as pb

from dt_e2e import Status, complete, running_worker, uid

LONG_CHAIN = 150


def echo(ctx: task.ActivityContext, value):
    return value


def one_activity(ctx: task.OrchestrationContext, text: str):
    result = yield ctx.call_activity(echo, input=text)
    return result


def activity_chain(ctx: task.OrchestrationContext, n: int):
    total = 0
    for i in range(n):
        total += yield ctx.call_activity(echo, input=i)
    return total


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[one_activity, activity_chain], activities=[echo]) as w:
        yield w


def _completed_one_activity(client) -> tuple[str, list[history.HistoryEvent]]:
    iid = client.schedule_new_orchestration(one_activity, input="hi", instance_id=uid("hist"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == "hi"
    return iid, client.get_orchestration_history(iid)


def test_one_activity_history_layout(client, worker):
    _, events = _completed_one_activity(client)
    assert [type(e) for e in events] == [
        history.OrchestratorStartedEvent,
        history.ExecutionStartedEvent,
        history.TaskScheduledEvent,
        history.OrchestratorCompletedEvent,
        history.OrchestratorStartedEvent,
        history.TaskCompletedEvent,
        history.OrchestratorCompletedEvent,
        history.ExecutionCompletedEvent,
    ]
    started, scheduled, task_completed, finished = events[1], events[2], events[5], events[7]
    assert started.name == "one_activity"
    assert started.input == '"hi"'
    assert scheduled.name == "echo"
    assert scheduled.input == '"hi"'
    assert task_completed.result == '"hi"'
    assert finished.orchestration_status == pb.ORCHESTRATION_STATUS_COMPLETED
    assert finished.result == '"hi"'


def test_task_completed_refers_to_task_scheduled_event_id(client, worker):
    _, events = _completed_one_activity(client)
    scheduled = [e for e in events if isinstance(e, history.TaskScheduledEvent)]
    completed = [e for e in events if isinstance(e, history.TaskCompletedEvent)]
    assert len(scheduled) == 1 and len(completed) == 1
    assert scheduled[0].event_id >= 0
    assert completed[0].task_scheduled_id == scheduled[0].event_id


@pytest.mark.fixes_reference("most history events carry the epoch as timestamp")
def test_every_event_has_a_real_timestamp(client, worker):
    before = datetime.now(timezone.utc)
    _, events = _completed_one_activity(client)
    after = datetime.now(timezone.utc)
    for e in events:
        assert e.timestamp.tzinfo is not None, e
        assert before - timedelta(minutes=1) <= e.timestamp <= after + timedelta(seconds=5), \
            f"{type(e).__name__} has timestamp {e.timestamp.isoformat()}"
    # The second episode cannot start before the first one did.
    first_os, second_os = [e.timestamp for e in events if isinstance(e, history.OrchestratorStartedEvent)]
    assert first_os <= second_os


def test_long_history_streams_in_several_chunks_in_order(client, worker):
    iid = client.schedule_new_orchestration(activity_chain, input=LONG_CHAIN, instance_id=uid("hist-long"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == sum(range(LONG_CHAIN))

    events = client.get_orchestration_history(iid)
    assert len(events) > 100
    # One episode per activity: OS, (ES | taskCompleted), taskScheduled, OC; then the final OS,
    # taskCompleted, OC, EC.
    assert len(events) == 4 * (LONG_CHAIN + 1)
    assert isinstance(events[0], history.OrchestratorStartedEvent)
    assert isinstance(events[1], history.ExecutionStartedEvent)
    assert isinstance(events[-1], history.ExecutionCompletedEvent)

    scheduled = [e for e in events if isinstance(e, history.TaskScheduledEvent)]
    assert [e.input for e in scheduled] == [str(i) for i in range(LONG_CHAIN)]
    ids = [e.event_id for e in scheduled]
    assert ids[0] >= 0
    assert all(a < b for a, b in zip(ids, ids[1:])), ids
    completed = [e for e in events if isinstance(e, history.TaskCompletedEvent)]
    assert [e.task_scheduled_id for e in completed] == ids
    assert [e.result for e in completed] == [str(i) for i in range(LONG_CHAIN)]

    # The raw stream really is split into several non-empty chunks that concatenate to the same list.
    chunks = list(client._stub.StreamInstanceHistory(pb.StreamInstanceHistoryRequest(instanceId=iid)))
    assert len(chunks) > 1
    assert all(len(c.events) > 0 for c in chunks)
    raw = [ev for c in chunks for ev in c.events]
    assert len(raw) == len(events)
    assert [ev.WhichOneof("eventType") for ev in raw][:4] == [
        "orchestratorStarted", "executionStarted", "taskScheduled", "orchestratorCompleted"]


def test_history_of_unknown_instance_is_not_found(client, worker):
    with pytest.raises(grpc.RpcError) as err:
        client.get_orchestration_history(uid("hist-missing"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
