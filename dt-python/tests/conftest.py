"""Helpers for the durabletask_rs package tests (run by `cargo xtask test` against the wheel
installed in .venv). Ports are always picked free at runtime: other test runs share the machine."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

pytest_plugins = ["pytester"]

HERE = Path(__file__).resolve().parent
# The certificate maker is shared with the server's end-to-end tests.
sys.path.insert(0, str(HERE.parent.parent / "tests" / "python"))
WAIT = 30.0  # generous deadline for waits on conditions; a passing test never waits this long


def free_port() -> int:
    """A port nobody listens on right now (on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could bind `port` on 127.0.0.1 now (as our backend does, with
    SO_REUSEADDR, so connections in TIME_WAIT do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Polls `predicate` until it is truthy (returned) or the deadline passes (fails)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


PYTHON = sys.executable
