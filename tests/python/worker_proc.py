"""A durabletask worker in its own process, for test_redelivery.py (not a test module).

Usage: python worker_proc.py <server address> <marker directory> <mode>

mode "block":       `redelivery_activity` and the second episode of `blocking_orchestrator` write
                    a "started" marker and then block forever (until the process is killed).
mode "replacement": the same names complete immediately.

Every activity run appends `<mode>` to `<dir>/<instance id>.<activity>.runs`, so the test can
count runs across processes. The process exits when its stdin reaches EOF (the test, or its
death, closes the pipe) or when it is killed.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from durabletask import task
from durabletask import worker as dt_worker

ADDRESS, MARKER_DIR, MODE = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
assert MODE in ("block", "replacement"), MODE


def _record_run(instance_id: str, activity: str) -> None:
    with open(MARKER_DIR / f"{instance_id}.{activity}.runs", "a") as f:
        f.write(MODE + "\n")
        f.flush()
        os.fsync(f.fileno())


def _block_forever(marker: Path) -> None:
    marker.write_text(str(os.getpid()))
    never = MARKER_DIR / "never"
    while not never.exists():  # nobody creates it: we wait for SIGKILL
        time.sleep(0.05)
    raise RuntimeError("the 'never' marker appeared")


def redelivery_activity(ctx: task.ActivityContext, _) -> str:
    _record_run(ctx.orchestration_id, "redelivery_activity")
    if MODE == "block":
        _block_forever(MARKER_DIR / f"{ctx.orchestration_id}.activity.started")
    return f"done by {MODE}"


def redelivery_orchestrator(ctx: task.OrchestrationContext, _):
    result = yield ctx.call_activity(redelivery_activity)
    return result


def step_activity(ctx: task.ActivityContext, _) -> str:
    _record_run(ctx.orchestration_id, "step_activity")
    return "step done"


def blocking_orchestrator(ctx: task.OrchestrationContext, _):
    step = yield ctx.call_activity(step_activity)
    if MODE == "block" and not ctx.is_replaying:
        # Second episode in the first process: block while holding the orchestration work item.
        _block_forever(MARKER_DIR / f"{ctx.instance_id}.orchestrator.started")
    return {"step": step, "finished_by": MODE}


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s [{MODE} {os.getpid()}] %(name)s %(levelname)s %(message)s")
    w = dt_worker.TaskHubGrpcWorker(host_address=ADDRESS)
    w.add_orchestrator(redelivery_orchestrator)
    w.add_orchestrator(blocking_orchestrator)
    w.add_activity(redelivery_activity)
    w.add_activity(step_activity)
    w.start()
    sys.stdin.read()  # returns at EOF
    os._exit(0)  # do not wait for blocked work items


if __name__ == "__main__":
    main()
