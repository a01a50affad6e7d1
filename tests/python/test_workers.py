"""Several workers on one server: work-item filters route each item to a worker that can run
it, and unfiltered workers share one queue with every item run exactly once."""

from __future__ import annotations

import threading

from durabletask import task
from durabletask import worker as dt_worker

from dt_e2e import Status, complete, uid


def _worker(address: str, orchestrators, activities, filters: bool) -> dt_worker.TaskHubGrpcWorker:
    w = dt_worker.TaskHubGrpcWorker(host_address=address)
    for o in orchestrators:
        w.add_orchestrator(o)
    for a in activities:
        w.add_activity(a)
    if filters:
        w.use_work_item_filters()  # generated from the registrations at start()
    w.start()
    return w


def alpha_act(ctx: task.ActivityContext, _) -> str:
    return "alpha-worker"


def alpha_orch(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_activity(alpha_act))


def beta_act(ctx: task.ActivityContext, _) -> str:
    return "beta-worker"


def beta_orch(ctx: task.OrchestrationContext, _):
    return (yield ctx.call_activity(beta_act))


def test_filters_route_each_orchestration_to_the_worker_that_registered_it(server, client):
    a = _worker(server.address, [alpha_orch], [alpha_act], filters=True)
    b = _worker(server.address, [beta_orch], [beta_act], filters=True)
    try:
        ids = [(client.schedule_new_orchestration(alpha_orch, instance_id=uid("alpha")), "alpha-worker")
               for _ in range(5)]
        ids += [(client.schedule_new_orchestration(beta_orch, instance_id=uid("beta")), "beta-worker")
                for _ in range(5)]
        for iid, expected in ids:
            state = complete(client, iid)
            assert state.runtime_status == Status.COMPLETED, state.failure_details
            assert state.get_output() == expected
    finally:
        a.stop()
        b.stop()


_runs: dict[str, int] = {}
_runs_lock = threading.Lock()


def counted_act(ctx: task.ActivityContext, key: str) -> str:
    with _runs_lock:
        _runs[key] = _runs.get(key, 0) + 1
    return key


def counted_orch(ctx: task.OrchestrationContext, key: str):
    return (yield ctx.call_activity(counted_act, input=key))


def test_unfiltered_workers_share_the_queue_and_run_each_item_once(server, client):
    workers = [_worker(server.address, [counted_orch], [counted_act], filters=False) for _ in range(3)]
    try:
        keys = [uid("shared") for _ in range(30)]
        ids = [client.schedule_new_orchestration(counted_orch, input=k, instance_id=k) for k in keys]
        for iid, key in zip(ids, keys):
            state = complete(client, iid)
            assert state.runtime_status == Status.COMPLETED, state.failure_details
            assert state.get_output() == key
        with _runs_lock:
            assert {k: _runs.get(k) for k in keys} == {k: 1 for k in keys}
    finally:
        for w in workers:
            w.stop()
