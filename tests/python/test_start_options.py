"""Start options the orchestration itself can observe: version and a server-generated id."""

from __future__ import annotations

from durabletask import task

from dt_e2e import Status, complete, running_worker, uid

import pytest


def report_version(ctx: task.OrchestrationContext, _):
    return {"version": ctx.version, "id": ctx.instance_id}


def parent_with_versioned_child(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_sub_orchestrator(report_version, version="child-3"))


@pytest.fixture(scope="module")
def worker(server):
    with running_worker(server.address, orchestrators=[report_version, parent_with_versioned_child]) as w:
        yield w


def test_version_given_at_start_reaches_the_orchestration(client, worker):
    iid = client.schedule_new_orchestration(report_version, instance_id=uid("ver"), version="2.1",
                                            tags={"team": "core"})
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    assert state.get_output() == {"version": "2.1", "id": iid}


def test_sub_orchestration_version_reaches_the_child(client, worker):
    iid = client.schedule_new_orchestration(parent_with_versioned_child, instance_id=uid("pver"))
    state = complete(client, iid)
    assert state.runtime_status == Status.COMPLETED, state.failure_details
    output = state.get_output()
    assert output["version"] == "child-3"
    assert output["id"] == f"{iid}:0001"
