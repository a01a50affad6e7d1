"""The Python worker runs entities from both work-item shapes the server can send: V2
(`entityRequestV2`, the default) and V1 (`entityRequest`, `dt-server --entity-work-items v1`),
with calls answered, failures rolled back, and signals applied in order."""

from __future__ import annotations

import pytest

from durabletask import entities, task
from durabletask import client as dt_client
from durabletask import worker as dt_worker

from dt_e2e import USING_BINARY, Status, complete, extra_server, new_client, uid, wait_until


def tally(ctx: entities.EntityContext, value):
    total = ctx.get_state(int, 0)
    if ctx.operation == "add":
        ctx.set_state(total + value)
        return total + value
    if ctx.operation == "boom":
        ctx.set_state(total + 1000)
        raise ValueError("boom")
    return total


def use_tally(ctx: task.OrchestrationContext, key: str):
    target = entities.EntityInstanceId("tally", key)
    ctx.signal_entity(target, "add", 1)
    after_add = yield ctx.call_entity(target, "add", 10)
    try:
        yield ctx.call_entity(target, "boom")
        failed = None
    except task.TaskFailedError as err:
        failed = err.details.message
    final = yield ctx.call_entity(target, "get")
    return [after_add, failed, final]


@pytest.mark.skipif(not USING_BINARY, reason="the format switch is a dt-server option")
@pytest.mark.parametrize("shape", ["v1", "v2"])
def test_entities_run_from_either_work_item_shape(shape):
    with extra_server(extra_args=["--entity-work-items", shape]) as server:
        w = dt_worker.TaskHubGrpcWorker(host_address=server.address)
        w.add_entity(tally)
        w.add_orchestrator(use_tally)
        w.start()
        c: dt_client.TaskHubGrpcClient = new_client(server.address)
        try:
            key = uid(shape)
            iid = c.schedule_new_orchestration(use_tally, input=key, instance_id=uid("tally"))
            state = complete(c, iid)
            assert state.runtime_status == Status.COMPLETED, state.failure_details
            after_add, failure, final = state.get_output()
            # The failed operation's +1000 is rolled back; the signal and the call before it stay.
            assert (after_add, final) == (11, 11)
            assert failure == f"Operation 'boom' on entity '@tally@{key}' failed with error: boom"
            c.signal_entity(entities.EntityInstanceId("tally", key), "add", 5)
            entity = wait_until(
                lambda: (e := c.get_entity(entities.EntityInstanceId("tally", key))) and e.get_state(int) == 16 and e,
                message="the client's signal to be applied",
            )
            assert entity.get_state(int) == 16
        finally:
            c.close()
            w.stop()
