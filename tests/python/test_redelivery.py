"""Redelivery of in-flight work when a worker dies (protocol.md §1.7): a worker process is
SIGKILLed while it runs an activity, or while its orchestrator function is blocked mid-episode,
and a replacement worker process finishes the orchestration.

The workers run in separate processes (worker_proc.py) so they can be killed for real; each test
starts and kills its own, so there is no module-scoped worker here.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from dt_e2e import Status, complete, uid, wait_until

WORKER_SCRIPT = Path(__file__).resolve().with_name("worker_proc.py")
STARTUP = 20.0  # a fresh interpreter importing grpc + durabletask, then the first dispatch


@contextlib.contextmanager
def worker_process(address: str, marker_dir: Path, mode: str) -> Iterator[subprocess.Popen[bytes]]:
    log = open(marker_dir / f"worker-{mode}-{uid('log')}.stderr", "wb")
    proc = subprocess.Popen([sys.executable, str(WORKER_SCRIPT), address, str(marker_dir), mode],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        log.close()


def _runs(marker_dir: Path, iid: str, activity: str) -> list[str]:
    path = marker_dir / f"{iid}.{activity}.runs"
    return path.read_text().split() if path.exists() else []


def _kill(proc: subprocess.Popen[bytes]) -> None:
    assert proc.poll() is None, f"worker process exited early with code {proc.returncode}"
    proc.kill()  # SIGKILL: no graceful stream shutdown, no abandon
    proc.wait(timeout=10)


@pytest.mark.fixes_reference("activities popped by a worker that disconnects are lost")
def test_activity_of_killed_worker_is_redelivered(server, client, tmp_path):
    iid = uid("redeliver-act")
    with worker_process(server.address, tmp_path, "block") as first:
        client.schedule_new_orchestration("redelivery_orchestrator", instance_id=iid)
        started = tmp_path / f"{iid}.activity.started"
        wait_until(started.exists, timeout=STARTUP, message=f"the activity of {iid} to start in the first worker")
        _kill(first)

    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.RUNNING
    assert _runs(tmp_path, iid, "redelivery_activity") == ["block"]

    with worker_process(server.address, tmp_path, "replacement"):
        state = complete(client, iid, timeout=10)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.get_output() == "done by replacement"
    assert _runs(tmp_path, iid, "redelivery_activity") == ["block", "replacement"]


@pytest.mark.fixes_reference("an orchestration work item held by a worker that disconnects is stranded")
def test_orchestration_of_killed_worker_is_redelivered(server, client, tmp_path):
    iid = uid("redeliver-orch")
    with worker_process(server.address, tmp_path, "block") as first:
        client.schedule_new_orchestration("blocking_orchestrator", instance_id=iid)
        started = tmp_path / f"{iid}.orchestrator.started"
        wait_until(started.exists, timeout=STARTUP,
                   message=f"the second episode of {iid} to block in the first worker")
        _kill(first)

    state = client.get_orchestration_state(iid)
    assert state is not None and state.runtime_status == Status.RUNNING
    assert _runs(tmp_path, iid, "step_activity") == ["block"]

    with worker_process(server.address, tmp_path, "replacement"):
        state = complete(client, iid, timeout=10)
        assert state.runtime_status == Status.COMPLETED, state.failure_details
        assert state.get_output() == {"step": "step done", "finished_by": "replacement"}
    # The step's result was committed before the kill, so the replacement replays it, not re-runs it.
    assert _runs(tmp_path, iid, "step_activity") == ["block"]
