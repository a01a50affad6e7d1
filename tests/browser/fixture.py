"""Instances for the dashboard's browser test, made through the Python SDK (not a test module).

Usage: python fixture.py <gRPC address>

Starts a worker, then instances in every status the dashboard shows: completed greetings, an
orchestration waiting for an `approve` event (with a pending one-hour timer beside it), one
that failed in an activity, a parent with an activity, a child and a timer, two that wait
forever (to be terminated), one whose id is an HTML snippet, and a `counter` entity. Prints
one JSON line with the ids once everything has settled, then keeps the worker running until
stdin reaches EOF.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta

from durabletask import client as dt_client
from durabletask import task
from durabletask import worker as dt_worker
from durabletask.entities import EntityContext, EntityInstanceId

ADDRESS = sys.argv[1]
XSS_ID = "<img src=x onerror=alert(1)>"


def say_hello(ctx: task.ActivityContext, name: str) -> str:
    return f"Hello, {name}!"


def check_stock(ctx: task.ActivityContext, item: str) -> int:
    raise ValueError(f"no stock record for {item!r}")


def greet(ctx: task.OrchestrationContext, names: list[str]):
    greetings = []
    for name in names:
        greetings.append((yield ctx.call_activity(say_hello, input=name)))
    return greetings


def approval(ctx: task.OrchestrationContext, order: dict):
    ctx.set_custom_status({"stage": "waiting for approval"})
    approved = ctx.wait_for_external_event("approve")
    expiry = ctx.create_timer(timedelta(hours=1))
    winner = yield task.when_any([approved, expiry])
    if winner == expiry:
        return {"order": order["id"], "approved": False}
    ctx.set_custom_status({"stage": "approved"})
    return {"order": order["id"], "approved": True, "by": approved.get_result()}


def restock(ctx: task.OrchestrationContext, item: str):
    count = yield ctx.call_activity(check_stock, input=item)
    return count


def parent(ctx: task.OrchestrationContext, _):
    hello = yield ctx.call_activity(say_hello, input="parent")
    child = yield ctx.call_sub_orchestrator(greet, input=["child", "grandchild"],
                                            instance_id=f"{ctx.instance_id}-child")
    yield ctx.create_timer(timedelta(milliseconds=300))
    return {"hello": hello, "child": child}


def wait_forever(ctx: task.OrchestrationContext, _):
    yield ctx.wait_for_external_event("never")


def counter(ctx: EntityContext, value):
    current = ctx.get_state(int, 0)
    if ctx.operation == "add":
        ctx.set_state(current + value)
    return current


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    # The SDK logs every step at INFO on loggers it configures itself; hand it quieter ones.
    sdk_log = logging.getLogger("fixture.sdk")
    w = dt_worker.TaskHubGrpcWorker(host_address=ADDRESS, logger=sdk_log.getChild("worker"))
    for orchestrator in (greet, approval, restock, parent, wait_forever):
        w.add_orchestrator(orchestrator)
    for activity in (say_hello, check_stock):
        w.add_activity(activity)
    w.add_entity(counter)
    w.start()
    c = dt_client.TaskHubGrpcClient(host_address=ADDRESS, logger=sdk_log.getChild("client"))

    greetings = [c.schedule_new_orchestration(greet, input=["Tokyo", "Seattle", "London"],
                                              instance_id=f"greet-{i}") for i in range(1, 4)]
    c.schedule_new_orchestration(approval, input={"id": "A-17", "total": 99.5},
                                 instance_id="approval-1")
    c.schedule_new_orchestration(restock, input="blue widget", instance_id="restock-1")
    c.schedule_new_orchestration(parent, instance_id="parent-1")
    for iid in ("wait-1", "wait-2", XSS_ID):
        c.schedule_new_orchestration(wait_forever, instance_id=iid)
    counter_id = EntityInstanceId("counter", "visits")
    for amount in (1, 2, 3):
        c.signal_entity(counter_id, "add", input=amount)

    for iid in greetings + ["restock-1", "parent-1", "parent-1-child"]:
        c.wait_for_orchestration_completion(iid, timeout=60)
    for iid in ("approval-1", "wait-1", "wait-2", XSS_ID):
        c.wait_for_orchestration_start(iid, timeout=60)
    print(json.dumps({"ready": True, "xss": XSS_ID, "entity": str(counter_id)}), flush=True)
    sys.stdin.read()  # until the test closes the pipe
    w.stop()


if __name__ == "__main__":
    main()
