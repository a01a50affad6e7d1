"""Orchestration versioning: STRICT workers fail or reject (abandon) other versions, and with
auto-generated work-item filters they never receive them, while the unversioned activities
their own orchestrations call still run (protocol.md §1.3).

Each test starts its own differently-configured workers (versioning cannot change while a
worker runs), so there is no module-scoped worker here; tests stop their workers before ending.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import pytest

from durabletask import task
from durabletask import worker as dt_worker
from durabletask.worker import VersionFailureStrategy, VersionMatchStrategy, VersioningOptions

from dt_e2e import Status, complete, uid, wait_until

MISMATCH_LOG = "did not meet worker versioning requirements"


class LogCounter(logging.Handler):
    """Counts the records of one logger whose message contains `needle`."""

    def __init__(self, needle: str) -> None:
        super().__init__(level=logging.DEBUG)
        self.needle = needle
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.count += 1


@contextlib.contextmanager
def versioned_worker(address: str, version: str, failure: VersionFailureStrategy, *,
                     orchestrators=(), activities=(), filters: bool = False,
                     counters: tuple[LogCounter, ...] = ()) -> Iterator[dt_worker.TaskHubGrpcWorker]:
    logger = logging.getLogger(f"e2e.sdk.worker.v{version}.{uid('log')}")
    logger.setLevel(logging.DEBUG)
    for c in counters:
        logger.addHandler(c)
    w = dt_worker.TaskHubGrpcWorker(host_address=address, logger=logger)
    for name, fn in orchestrators:
        w._registry.add_named_orchestrator(name, fn)
    for name, fn in activities:
        w._registry.add_named_activity(name, fn)
    w.use_versioning(VersioningOptions(version=version, default_version=version,
                                       match_strategy=VersionMatchStrategy.STRICT,
                                       failure_strategy=failure))
    if filters:
        w.use_work_item_filters()  # generated from the registrations (and the version) at start()
    w.start()
    try:
        yield w
    finally:
        w.stop()
        for c in counters:
            logger.removeHandler(c)


def versioned_act(ctx: task.ActivityContext, _) -> str:
    return "act"


def _orchestrator_calling_activity(worker_label: str):
    def orch(ctx: task.OrchestrationContext, _):
        result = yield ctx.call_activity("versioned_act")
        return {"worker": worker_label, "version": ctx.version, "activity": result}
    return orch


def _plain_orchestrator(worker_label: str):
    def orch(ctx: task.OrchestrationContext, _):
        return {"worker": worker_label, "version": ctx.version}
    return orch


def test_strict_fail_strategy_fails_other_versions(server, client):
    with versioned_worker(server.address, "1.0", VersionFailureStrategy.FAIL,
                          orchestrators=[("ver_fail", _orchestrator_calling_activity("v1"))],
                          activities=[("versioned_act", versioned_act)]):
        wrong = client.schedule_new_orchestration("ver_fail", instance_id=uid("ver-fail"), version="2.0")
        state = complete(client, wrong)
        assert state.runtime_status == Status.FAILED
        assert state.serialized_output is None
        fd = state.failure_details
        assert fd is not None
        assert fd.error_type == "VersionMismatch"
        assert fd.message == "The orchestration version '2.0' does not match the worker version '1.0'."
        assert fd.inner_failure is None

        right = client.schedule_new_orchestration("ver_fail", instance_id=uid("ver-ok"), version="1.0")
        state = complete(client, right)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.get_output() == {"worker": "v1", "version": "1.0", "activity": "act"}


def test_strict_reject_strategy_leaves_instance_pending_until_a_matching_worker(server, client):
    iid = uid("ver-reject")
    rejections = LogCounter(f"Abandoning orchestration. InstanceId = '{iid}'")
    with versioned_worker(server.address, "1.0", VersionFailureStrategy.REJECT,
                          orchestrators=[("ver_reject", _orchestrator_calling_activity("v1"))],
                          activities=[("versioned_act", versioned_act)], counters=(rejections,)):
        client.schedule_new_orchestration("ver_reject", instance_id=iid, version="2.0")
        wait_until(lambda: rejections.count >= 2, timeout=8,
                   message=lambda: f"two rejections of {iid} (saw {rejections.count})")
        with pytest.raises(TimeoutError):
            client.wait_for_orchestration_start(iid, timeout=1)
        state = client.get_orchestration_state(iid)
        assert state is not None
        assert state.runtime_status == Status.PENDING
        assert state.serialized_output is None and state.failure_details is None

    # The 1.0 worker is stopped first: with both connected and unfiltered, nothing obliges the
    # server to route each later episode (which the 1.0 worker rejects again) to the 2.0 worker.
    with versioned_worker(server.address, "2.0", VersionFailureStrategy.REJECT,
                          orchestrators=[("ver_reject", _orchestrator_calling_activity("v2"))],
                          activities=[("versioned_act", versioned_act)]):
        state = complete(client, iid, timeout=15)  # covers the server's abandon backoff
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.get_output() == {"worker": "v2", "version": "2.0", "activity": "act"}


def test_filtered_strict_worker_never_receives_other_versions(server, client):
    mismatches_v1 = LogCounter(MISMATCH_LOG)
    with versioned_worker(server.address, "1.0", VersionFailureStrategy.FAIL, filters=True,
                          orchestrators=[("ver_filtered", _plain_orchestrator("v1"))],
                          counters=(mismatches_v1,)):
        # The filtered 1.0 worker is connected and receives its own version...
        own = client.schedule_new_orchestration("ver_filtered", instance_id=uid("ver-f1"), version="1.0")
        state = complete(client, own, timeout=10)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.get_output() == {"worker": "v1", "version": "1.0"}

        # ...but a 2.0 instance is never dispatched to it (FAIL strategy would have failed it).
        other = client.schedule_new_orchestration("ver_filtered", instance_id=uid("ver-f2"), version="2.0")
        with pytest.raises(TimeoutError):
            client.wait_for_orchestration_start(other, timeout=1.5)
        state = client.get_orchestration_state(other)
        assert state is not None
        assert state.runtime_status == Status.PENDING
        assert mismatches_v1.count == 0

        with versioned_worker(server.address, "2.0", VersionFailureStrategy.FAIL, filters=True,
                              orchestrators=[("ver_filtered", _plain_orchestrator("v2"))]):
            state = complete(client, other, timeout=10)
            assert state.runtime_status == Status.COMPLETED, state.failure_details
            assert state.get_output() == {"worker": "v2", "version": "2.0"}
        assert mismatches_v1.count == 0


@pytest.mark.fixes_reference("STRICT filters put the worker version on activity filters; unversioned activities starve")
def test_filtered_strict_worker_still_runs_unversioned_activities(server, client):
    with versioned_worker(server.address, "1.0", VersionFailureStrategy.FAIL, filters=True,
                          orchestrators=[("ver_filtered_act", _orchestrator_calling_activity("v1"))],
                          activities=[("versioned_act", versioned_act)]):
        iid = client.schedule_new_orchestration("ver_filtered_act", instance_id=uid("ver-fact"), version="1.0")
        state = complete(client, iid, timeout=10)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.get_output() == {"worker": "v1", "version": "1.0", "activity": "act"}
