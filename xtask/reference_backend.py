"""The reference backend for `cargo xtask bench`: the pinned Python SDK's in-memory backend
(`durabletask.testing.create_test_backend`) in a process of its own.

Usage: python xtask/reference_backend.py [--port N] [--max-history-size N]
Prints `reference backend listening on localhost:<port>` once serving, then serves until it
gets SIGTERM or SIGINT.
"""

import argparse
import signal
import socket
import threading

from durabletask.testing import create_test_backend


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--max-history-size", type=int, default=10000)
    args = parser.parse_args()
    port = args.port or free_port()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    backend = create_test_backend(port=port, max_history_size=args.max_history_size)
    print(f"reference backend listening on localhost:{port}", flush=True)
    stop.wait()
    backend.stop(grace=0)


if __name__ == "__main__":
    main()
