"""What every test pays for its backend, for `cargo xtask bench`: create + start + stop, and
reset(), of `durabletask_rs.testing` (ours, in-process) and the pinned SDK's
`durabletask.testing` (the reference), in this one process, side by side.

Usage: python xtask/backend_lifecycle.py --rounds N [--no-reference]
Prints one JSON line per measurement and backend: {"key", "label", "backend", "n", "mean_ms",
"p50_ms", "p99_ms"}.
"""

import argparse
import json
import logging
import socket
import statistics
import time
from typing import Callable, List

import durabletask.testing as reference
import durabletask_rs.testing as ours
from durabletask import client as dt_client

INSTANCES = 100  # for "reset() after N started instances"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(samples: List[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(rounds: int, prepare: Callable[[], object], body: Callable[[object], None]) -> List[float]:
    """Runs `body(prepare())` `rounds` times; only `body` is timed (milliseconds)."""
    samples = []
    for _ in range(rounds):
        arg = prepare()
        start = time.perf_counter()
        body(arg)
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def start_stop(module, rounds: int) -> List[float]:
    # The SDK's backend cannot pick a port itself, so both get one picked outside the timing.
    return timed(rounds, free_port, lambda port: module.create_test_backend(port=port).stop())


def reset_empty(module, rounds: int) -> List[float]:
    backend = module.create_test_backend(port=free_port())
    try:
        return timed(rounds, lambda: None, lambda _: backend.reset())
    finally:
        backend.stop()


def reset_after_instances(module, rounds: int) -> List[float]:
    port = free_port()
    backend = module.create_test_backend(port=port)
    quiet = logging.getLogger("backend_lifecycle")
    quiet.setLevel(logging.WARNING)  # not a line per started instance
    c = dt_client.TaskHubGrpcClient(host_address=f"localhost:{port}", logger=quiet)

    def fill() -> None:
        for _ in range(INSTANCES):
            c.schedule_new_orchestration("bench_never_runs")

    try:
        return timed(rounds, fill, lambda _: backend.reset())
    finally:
        c.close()
        backend.stop()


MEASUREMENTS = [
    ("start-stop", "create + start + stop", start_stop),
    ("reset", "reset() of an empty running backend", reset_empty),
    ("reset-100", f"reset() after {INSTANCES} started instances", reset_after_instances),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args()
    backends = [("ours", ours)] + ([] if args.no_reference else [("reference", reference)])
    for key, label, measure in MEASUREMENTS:
        rounds = max(1, args.rounds // 5) if key == "reset-100" else args.rounds
        for name, module in backends:
            samples = measure(module, rounds)
            print(json.dumps({
                "key": key, "label": label, "backend": name, "n": len(samples),
                "mean_ms": statistics.fmean(samples), "p50_ms": percentile(samples, 0.5),
                "p99_ms": percentile(samples, 0.99),
            }), flush=True)


if __name__ == "__main__":
    main()
