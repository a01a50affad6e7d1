"""Helpers shared by the dt-server end-to-end tests (servers, clients, workers, polling).

Configuration (environment):
- DT_SERVER_BIN: path of the dt-server binary (default `<repo>/target/debug/dt-server`).
- DT_E2E_BACKEND=inprocess: use the durabletask_rs package (our server inside this pytest
  process, `durabletask_rs.testing.InMemoryOrchestrationBackend`) instead of the binary.
- DT_E2E_BACKEND=reference: use the SDK's in-memory Python backend instead of dt-server.
- DT_E2E_STORE=sqlite: each binary server keeps its state in a SQLite file of its own
  (`--store sqlite://...`, removed when the server stops) instead of in memory.
- DT_E2E_STORE=postgres: each binary server keeps its state in a PostgreSQL database of its
  own (`--store postgres://...`), made on the server at DT_TEST_POSTGRES_URL (default
  postgres://postgres@127.0.0.1:5432/test) with `psql` and dropped when the server stops.
- DT_E2E_STORE=postgres-pair: as postgres, with a second dt-server on the same database; the
  tests' clients use the first and their workers (running_worker*) the second, so every test
  crosses two servers of one task hub.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, Union

import pytest

from durabletask import client as dt_client
from durabletask import worker as dt_worker

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER_BIN = REPO_ROOT / "target" / "debug" / "dt-server"
BACKEND = os.environ.get("DT_E2E_BACKEND", "dt-server").strip().lower()
USING_REFERENCE = BACKEND in ("reference", "py", "python")
USING_INPROCESS = BACKEND in ("inprocess", "in-process")
# Only the binary takes dt-server command-line options (e.g. --entity-work-items).
USING_BINARY = not (USING_REFERENCE or USING_INPROCESS)
# The binary's store for servers whose test does not choose one.
STORE = os.environ.get("DT_E2E_STORE", "memory").strip().lower()
POSTGRES_URL = (os.environ.get("DT_TEST_POSTGRES_URL", "").strip()
                or "postgres://postgres@127.0.0.1:5432/test")

# Generous waits so a slow CI machine does not flake; a passing test never waits this long.
WAIT = 30.0
STARTUP_TIMEOUT = float(os.environ.get("DT_SERVER_STARTUP_TIMEOUT", "30"))
STOP_TIMEOUT = 10.0
LISTENING_RE = re.compile(r"dt-server listening on (\S+)")
PORT_RE = re.compile(r":(\d+)\s*$")

Status = dt_client.OrchestrationStatus

_sdk_log = logging.getLogger("e2e.sdk")


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------

def server_binary() -> Path:
    return Path(os.environ.get("DT_SERVER_BIN") or DEFAULT_SERVER_BIN)


@dataclass
class ServerHandle:
    """A running backend: `address` is "localhost:<port>"."""

    port: int
    kind: str
    process: subprocess.Popen[bytes] | None = None
    stderr_path: Path | None = None
    _backend: Any = None
    _stdout_lines: list[str] = field(default_factory=list)
    # A store directory the handle made (DT_E2E_STORE=sqlite), removed on stop.
    _store_dir: tempfile.TemporaryDirectory[str] | None = None
    # A database the handle made (DT_E2E_STORE=postgres), dropped on stop.
    _database: PostgresDatabase | None = None
    # The second server on the same database (DT_E2E_STORE=postgres-pair), stopped first.
    _partner: ServerHandle | None = None

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    def stderr_text(self) -> str:
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text(errors="replace")

    def stderr_tail(self, lines: int = 80) -> str:
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def stop(self) -> None:
        if self._partner is not None:
            _WORKER_ADDRESS.pop(self.address, None)
            self._partner.stop()
            self._partner = None
        if self._backend is not None:
            self._backend.stop()
            self._backend = None
        if self.process is not None:
            _terminate(self.process)
            self.process = None
        if self.stderr_path is not None:
            self.stderr_path.unlink(missing_ok=True)
            self.stderr_path = None
        if self._store_dir is not None:
            self._store_dir.cleanup()
            self._store_dir = None
        if self._database is not None:
            self._database.drop()
            self._database = None


class PostgresDatabase:
    """A database of its own on the server at POSTGRES_URL, made and dropped with `psql`."""

    def __init__(self, prefix: str = "dt_e2e") -> None:
        self.name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        _psql(POSTGRES_URL, f"CREATE DATABASE {self.name}")
        head, sep, query = POSTGRES_URL.partition("?")
        authority_start = head.find("://") + 3
        slash = head.find("/", authority_start)
        base = head if slash < 0 else head[:slash]
        self.url = f"{base}/{self.name}{sep}{query}"

    def drop(self) -> None:
        _psql(POSTGRES_URL, f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def postgres_database() -> PostgresDatabase:
    """A new database for a test that names its store itself; skips the test where no
    PostgreSQL answers at DT_TEST_POSTGRES_URL, unless DT_REQUIRE_POSTGRES=1."""
    try:
        answered = subprocess.run(["psql", POSTGRES_URL, "-qAtc", "SELECT 1"],
                                  capture_output=True, timeout=30).returncode == 0
    except FileNotFoundError:
        answered = False
    if not answered:
        if os.environ.get("DT_REQUIRE_POSTGRES", "").strip() == "1":
            pytest.fail("no PostgreSQL answers psql at DT_TEST_POSTGRES_URL "
                        "(DT_REQUIRE_POSTGRES=1)", pytrace=False)
        pytest.skip("no PostgreSQL answers psql at DT_TEST_POSTGRES_URL")
    return PostgresDatabase()


def _psql(url: str, sql: str) -> None:
    try:
        done = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                              capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.fail("DT_E2E_STORE=postgres needs psql (PostgreSQL's client) on PATH",
                    pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"psql could not run {sql!r} (DT_TEST_POSTGRES_URL={url!r}): "
                    f"{done.stderr.strip()}", pytrace=False)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start_reference(max_history_size: int | None) -> ServerHandle:
    from durabletask.testing import create_test_backend

    port = _free_port()
    kwargs: dict[str, Any] = {"port": port}
    if max_history_size is not None:
        kwargs["max_history_size"] = max_history_size
    backend = create_test_backend(**kwargs)
    return ServerHandle(port=port, kind="reference", _backend=backend)


def _start_inprocess(max_history_size: int | None) -> ServerHandle:
    from durabletask_rs.testing import InMemoryOrchestrationBackend

    kwargs: dict[str, Any] = {"port": 0}
    if max_history_size is not None:
        kwargs["max_history_size"] = max_history_size
    backend = InMemoryOrchestrationBackend(**kwargs)
    backend.start()
    return ServerHandle(port=backend.port, kind="inprocess", _backend=backend)


def _start_binary(max_history_size: int | None, extra_args: Sequence[str]) -> ServerHandle:
    binary = server_binary()
    if not binary.is_file():
        pytest.fail(f"dt-server binary not found at {binary} (build it: cargo build --bin dt-server, "
                    "or set DT_SERVER_BIN)", pytrace=False)
    args = [str(binary), "--port", "0"]
    if max_history_size is not None:
        args += ["--max-history-size", str(max_history_size)]
    args += list(extra_args)
    store_dir = None
    database = None
    if STORE == "sqlite" and "--store" not in extra_args:
        store_dir = tempfile.TemporaryDirectory(prefix="dt-store-")
        args += ["--store", f"sqlite://{store_dir.name}/dt.db"]
    elif STORE in ("postgres", "postgres-pair") and "--store" not in extra_args:
        database = PostgresDatabase()
        args += ["--store", database.url]
    elif STORE != "memory" and "--store" not in extra_args:
        pytest.fail(f"DT_E2E_STORE={STORE!r}: use 'memory', 'sqlite', 'postgres' or "
                    "'postgres-pair'", pytrace=False)

    stderr_file = tempfile.NamedTemporaryFile(prefix="dt-server-", suffix=".stderr", delete=False)
    stderr_path = Path(stderr_file.name)
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file)
    stderr_file.close()  # the child keeps its own descriptor

    lines: queue.Queue[str | None] = queue.Queue()
    handle = ServerHandle(port=0, kind="dt-server", process=proc, stderr_path=stderr_path,
                          _store_dir=store_dir, _database=database)

    def pump_stdout() -> None:
        # Keeps draining stdout for the whole server lifetime so the pipe never fills up.
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            text = raw.decode(errors="replace").rstrip("\r\n")
            handle._stdout_lines.append(text)
            lines.put(text)
        lines.put(None)

    threading.Thread(target=pump_stdout, name=f"dt-server-stdout-{proc.pid}", daemon=True).start()

    deadline = time.monotonic() + STARTUP_TIMEOUT
    problem = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            problem = f"no 'dt-server listening on' line within {STARTUP_TIMEOUT:.0f}s"
            break
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            problem = f"dt-server exited before listening (exit code {proc.wait(timeout=STOP_TIMEOUT)})"
            break
        m = LISTENING_RE.search(line)
        if m:
            pm = PORT_RE.search(m.group(1))
            if pm and int(pm.group(1)) > 0:
                handle.port = int(pm.group(1))
                if STORE == "postgres-pair" and database is not None:
                    partner = _start_binary(max_history_size,
                                            [*extra_args, "--store", database.url])
                    handle._partner = partner
                    _WORKER_ADDRESS[handle.address] = partner.address
                return handle
            problem = f"could not parse a port from {line!r}"
            break

    _terminate(proc)
    stdout = "\n".join(handle._stdout_lines)
    stderr = handle.stderr_text()
    handle.stop()
    pytest.fail(f"{problem}\ncommand: {' '.join(args)}\n--- stdout ---\n{stdout}\n"
                f"--- stderr ---\n{stderr}", pytrace=False)


def start_server(max_history_size: int | None = None, extra_args: Sequence[str] = ()) -> ServerHandle:
    """Starts a backend of the configured kind on a free port; call `.stop()` when done.
    `extra_args` are dt-server options: only the binary takes them (see USING_BINARY)."""
    if extra_args and not USING_BINARY:
        pytest.fail(f"dt-server options {list(extra_args)} need the binary backend", pytrace=False)
    if USING_REFERENCE:
        return _start_reference(max_history_size)
    if USING_INPROCESS:
        return _start_inprocess(max_history_size)
    return _start_binary(max_history_size, extra_args)


@contextlib.contextmanager
def extra_server(max_history_size: int | None = None, extra_args: Sequence[str] = ()) -> Iterator[ServerHandle]:
    """An additional, independent backend (e.g. several backends on different ports)."""
    handle = start_server(max_history_size, extra_args)
    try:
        yield handle
    finally:
        handle.stop()


# ---------------------------------------------------------------------------------------------
# Client and worker helpers
# ---------------------------------------------------------------------------------------------

# Where workers for a server connect: its partner's address (DT_E2E_STORE=postgres-pair).
_WORKER_ADDRESS: dict[str, str] = {}


def worker_address(address: str) -> str:
    """The address a worker for the server at `address` uses (the server itself, or the other
    server of its pair)."""
    return _WORKER_ADDRESS.get(address, address)


def new_client(address: str) -> dt_client.TaskHubGrpcClient:
    return dt_client.TaskHubGrpcClient(host_address=address, logger=_sdk_log.getChild("client"))


Registration = Union[Callable[..., Any], tuple[str, Callable[..., Any]]]


@contextlib.contextmanager
def running_worker(address: str,
                   orchestrators: Sequence[Registration] = (),
                   activities: Sequence[Registration] = (),
                   **worker_kwargs: Any) -> Iterator[dt_worker.TaskHubGrpcWorker]:
    """Starts a TaskHubGrpcWorker against `address` with the given registrations; stops it after.

    A registration is a function (registered under its `__name__`) or a `(name, function)` pair.
    """
    worker_kwargs.setdefault("logger", _sdk_log.getChild("worker"))
    w = dt_worker.TaskHubGrpcWorker(host_address=worker_address(address), **worker_kwargs)
    for reg in orchestrators:
        if isinstance(reg, tuple):
            w._registry.add_named_orchestrator(*reg)  # no public API for explicit names
        else:
            w.add_orchestrator(reg)
    for reg in activities:
        if isinstance(reg, tuple):
            w._registry.add_named_activity(*reg)
        else:
            w.add_activity(reg)
    w.start()
    try:
        yield w
    finally:
        w.stop()


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT, interval: float = 0.05,
               message: str | Callable[[], str] = "condition") -> Any:
    """Polls `predicate` until it returns a truthy value (returned) or `timeout` elapses (fails)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            pytest.fail(f"timed out after {timeout}s waiting for {text}; last value: {last!r}")
        time.sleep(interval)


def wait_for_status(c: dt_client.TaskHubGrpcClient, instance_id: str, status: Status,
                    timeout: float = WAIT) -> dt_client.OrchestrationState:
    """Polls GetInstance until the instance reports `status`."""
    def check() -> dt_client.OrchestrationState | None:
        state = c.get_orchestration_state(instance_id)
        return state if state is not None and state.runtime_status == status else None

    return wait_until(check, timeout, message=lambda: f"{instance_id} to become {status.name}")


def complete(c: dt_client.TaskHubGrpcClient, instance_id: str, timeout: float = WAIT) -> dt_client.OrchestrationState:
    """wait_for_orchestration_completion that never returns None."""
    state = c.wait_for_orchestration_completion(instance_id, timeout=timeout)
    assert state is not None, f"instance {instance_id} does not exist"
    return state


def uid(prefix: str = "e2e") -> str:
    """A fresh instance id with a readable prefix."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Counter:
    """Thread-safe counters keyed by (e.g.) instance id, for activities running in the worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def incr(self, key: str) -> int:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def get(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)


# ---------------------------------------------------------------------------------------------
# Entity helpers
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def running_worker_with_entities(address: str,
                                 orchestrators: Sequence[Registration] = (),
                                 activities: Sequence[Registration] = (),
                                 entities: Sequence[Registration] = (),
                                 scheduled_tasks: bool = False,
                                 **worker_kwargs: Any) -> Iterator[dt_worker.TaskHubGrpcWorker]:
    """Like `running_worker`, plus durable entities (a function, a DurableEntity subclass, or a
    `(name, entity)` pair; the SDK lower-cases names) and, with `scheduled_tasks=True`, the
    SDK's scheduled-tasks feature (`configure_scheduled_tasks()`)."""
    worker_kwargs.setdefault("logger", _sdk_log.getChild("worker"))
    w = dt_worker.TaskHubGrpcWorker(host_address=worker_address(address), **worker_kwargs)
    for reg in orchestrators:
        if isinstance(reg, tuple):
            w._registry.add_named_orchestrator(*reg)
        else:
            w.add_orchestrator(reg)
    for reg in activities:
        if isinstance(reg, tuple):
            w._registry.add_named_activity(*reg)
        else:
            w.add_activity(reg)
    for reg in entities:
        if isinstance(reg, tuple):
            w.add_entity(reg[1], name=reg[0])
        else:
            w.add_entity(reg)
    if scheduled_tasks:
        w.configure_scheduled_tasks()
    w.start()
    try:
        yield w
    finally:
        w.stop()


def assert_stays(value: Callable[[], Any], expected: Any, duration: float, interval: float = 0.05,
                 message: str = "value") -> None:
    """Polls `value()` for `duration` seconds and fails as soon as it differs from `expected`
    (a bounded wait that must time out, e.g. "a delayed signal has not run yet")."""
    deadline = time.monotonic() + duration
    while True:
        current = value()
        if current != expected:
            pytest.fail(f"{message} changed to {current!r} (expected it to stay {expected!r} "
                        f"for {duration}s)")
        if time.monotonic() >= deadline:
            return
        time.sleep(interval)
