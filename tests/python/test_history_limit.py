"""An orchestration whose history would outgrow the server's `max_history_size` ends FAILED
with details that say so, instead of staying RUNNING with its events lost (the reference
answers the worker with RESOURCE_EXHAUSTED and leaves the instance stuck)."""

from __future__ import annotations

import pytest

from durabletask import task

from dt_e2e import Status, extra_server, new_client, running_worker, uid


def step(ctx: task.ActivityContext, n: int) -> int:
    return n + 1


def long_chain(ctx: task.OrchestrationContext, length: int):
    value = 0
    for _ in range(length):
        value = yield ctx.call_activity(step, input=value)
    return value


@pytest.mark.fixes_reference("the reference rejects the turn and leaves the instance RUNNING")
def test_exceeding_the_history_limit_fails_the_orchestration():
    with extra_server(max_history_size=20) as server, \
            running_worker(server.address, orchestrators=[long_chain], activities=[step]):
        c = new_client(server.address)
        try:
            short = c.schedule_new_orchestration(long_chain, input=2, instance_id=uid("short"))
            done = c.wait_for_orchestration_completion(short, timeout=30)
            assert done.runtime_status == Status.COMPLETED
            assert done.get_output() == 2

            # Each activity costs a turn of 4 events (orchestratorStarted, the previous result,
            # taskScheduled, orchestratorCompleted): 10 of them cannot fit in 20.
            long = c.schedule_new_orchestration(long_chain, input=10, instance_id=uid("long"))
            state = c.wait_for_orchestration_completion(long, timeout=30)
            assert state.runtime_status == Status.FAILED
            details = state.failure_details
            assert details.error_type == "HistorySizeLimitExceeded"
            assert "max_history_size of 20" in details.message
        finally:
            c.close()
