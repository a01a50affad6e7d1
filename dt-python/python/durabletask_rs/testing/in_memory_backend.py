"""The in-process backend: the same names, signatures, defaults and behaviour as the SDK's
`durabletask.testing.in_memory_backend`, served by the Rust server on a thread of its own.

Differences a test may notice, all additions:
- `port=0` picks a free port at the first start (later starts reuse it); `.port` and
  `.address` say which.
- The backend is a context manager (`with InMemoryOrchestrationBackend(port=0) as b:`).
- Bad arguments raise at once: `TypeError` for a non-int, `ValueError` for
  `max_history_size < 1` or a port outside 0..65535, and `start()` raises `OSError` (errno
  `EADDRINUSE`, message naming the port) when the port is taken.
- `start()` on a running backend and `stop()` on a stopped one do nothing.
- Backends still running when the interpreter exits are stopped then.
- Keyword-only options for testing secured clients: `auth_token` (every call must then carry
  `authorization: Bearer <token>`; the SDK sends it with `metadata=[("authorization",
  "Bearer ...")]`) and `tls_cert`/`tls_key` (PEM files; clients then need
  `secure_channel=True` and to trust the certificate's issuer).
- `time_skipping=True` (keyword-only; None or False is off): a virtual clock that jumps to
  the next timer while a client waits for an orchestration and nothing runs, with `now()`,
  `skip(timedelta)`, `time_skipping_locked()` and `time_skipping_status()`. See the README's
  "Time skipping".
- `http_port=N` (keyword-only; 0 picks a free port): the dashboard and admin HTTP API beside
  gRPC (`.http_port`, `.http_address`); None, the default, serves no HTTP.
- `store="sqlite://PATH"` (keyword-only; None or "memory" keeps state in memory): state in
  one SQLite file, every change on disk before it is acknowledged; a later backend on the same
  path (after this one is gone) serves it again. `store="postgres://USER@HOST:PORT/DB"` keeps
  it in a PostgreSQL database the same way (one backend per database for now).
"""

import atexit
import contextlib
import logging
import os
import weakref
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Optional, Sequence, Union

from durabletask_rs import _native

_logger = logging.getLogger(__name__)

# Backends that may be running, stopped at interpreter exit so their ports close in order.
_live: "weakref.WeakSet[InMemoryOrchestrationBackend]" = weakref.WeakSet()

_Path = Union[str, "os.PathLike[str]"]


class InMemoryOrchestrationBackend:
    """
    In-process backend for durable orchestrations suitable for testing.

    All state (instances, histories, entities, queued work) lives in memory in the Rust
    server, which runs on its own thread inside this process and never holds the GIL while it
    works. `stop()` keeps the state (a later `start()` serves it again); `reset()` clears it.
    """

    def __init__(
        self,
        max_history_size: int = 10000,
        port: int = 50051,
        *,
        auth_token: Union[str, Sequence[str], None] = None,
        tls_cert: Optional[_Path] = None,
        tls_key: Optional[_Path] = None,
        time_skipping: Optional[bool] = None,
        http_port: Optional[int] = None,
        store: Optional[str] = None,
    ):
        """
        Creates a new in-memory backend; nothing listens until `start()`.

        Args:
            max_history_size: Maximum number of history events per orchestration (default
                10000); an orchestration that grows past it fails.
            port: Port to listen on for gRPC connections (default 50051); 0 picks a free
                port at the first start, which later starts reuse.
            auth_token: A bearer token, or a list of them: every call must then carry
                `authorization: Bearer <token>` (else UNAUTHENTICATED), except the gRPC
                health service. None (the default) accepts every call.
            tls_cert: PEM file with the server certificate (and intermediates): the port then
                speaks TLS only. Needs `tls_key`.
            tls_key: PEM file with the certificate's private key.
            http_port: Also serve the dashboard and admin HTTP API (`/api/v1`, `/metrics`,
                `/healthz`) on this port of the loopback addresses; 0 picks a free one (kept
                across restarts, like `port`). None (the default) serves no HTTP. The HTTP
                port takes the same token and certificate as the gRPC port.
            time_skipping: True for a virtual clock that skips ahead to the next timer while
                a client waits for an orchestration and no work is queued or running; None
                or False (the default) keeps real time.
            store: "sqlite://PATH" keeps state in that SQLite file (created if missing),
                which the backend holds open until it is garbage-collected;
                "postgres://USER@HOST:PORT/DB" keeps it in that PostgreSQL database (one
                backend per database at a time); None or "memory" (the default) keeps it in
                memory.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: `max_history_size` is below 1, `port` is outside 0..65535, a token is
                blank or holds whitespace, only one of `tls_cert`/`tls_key` is given, the
                certificate or key cannot be used, or `store` names no store.
            RuntimeError: the store file cannot be used (in use by another server, not a
                store, from a newer version, or cannot be created).
            OSError: a certificate or key file cannot be read (e.g. FileNotFoundError).
        """
        self._tls = tls_cert is not None
        self._native = _native.Backend(
            max_history_size=max_history_size,
            port=port,
            auth_token=auth_token,
            tls_cert=tls_cert,
            tls_key=tls_key,
            time_skipping=time_skipping,
            http_port=http_port,
            store=store,
        )
        _live.add(self)

    def start(self) -> str:
        """
        Starts the gRPC server on the configured port (127.0.0.1 and ::1).

        The port is bound when this returns. On a running backend this does nothing but
        return the address.

        Returns:
            The address the server is listening on (e.g., "localhost:50051")

        Raises:
            OSError: the port cannot be bound (e.g. errno EADDRINUSE); the message names it.
        """
        port = self._native.start()
        _logger.info("In-memory backend started on port %d", port)
        return f"localhost:{port}"

    def stop(self, grace: Optional[float] = None) -> None:
        """
        Stops the gRPC server; the port is free when this returns, and the state is kept.

        Work-item streams and waits end at once, with UNAVAILABLE. Connections then get up to
        `grace` seconds (None: 1 second) to finish the calls in flight and close; they normally
        close within milliseconds, after telling each client (HTTP/2 GOAWAY) not to reuse
        them, so the next backend on the same port gets fresh connections. Whatever is left
        then is cut (`grace=0` cuts at once). Every connection is closed when this returns.
        On a stopped backend this does nothing.

        Args:
            grace: Grace period in seconds for graceful shutdown
        """
        was_running = self._native.running
        self._native.stop(grace)
        if was_running:
            _logger.info("In-memory backend stopped")

    def reset(self) -> None:
        """Resets the backend, clearing all state (instances, entities, queued work).

        Works running or stopped; connected workers stay connected."""
        self._native.reset()

    @property
    def port(self) -> int:
        """The port: the bound one once started (kept after `stop()`, and bound again by the
        next `start()`), the configured one before the first start (0: any free port)."""
        return self._native.port

    @property
    def address(self) -> str:
        """`"localhost:<port>"`, what `start()` returns."""
        return f"localhost:{self.port}"

    @property
    def http_port(self) -> Optional[int]:
        """The dashboard's port, like `port` (None when no HTTP was asked for)."""
        return self._native.http_port

    @property
    def http_address(self) -> Optional[str]:
        """`"http://localhost:<http_port>"` (`https://` with TLS), or None without HTTP."""
        port = self.http_port
        if port is None:
            return None
        scheme = "https" if self._tls else "http"
        return f"{scheme}://localhost:{port}"

    def now(self) -> datetime:
        """The backend's current time, an aware UTC datetime: virtual with time skipping on
        (ahead of the wall clock by what was skipped), the wall clock otherwise. Use it to
        compute times the backend compares, such as a scheduled start."""
        return _from_micros(self._native.now_micros())

    def skip(self, duration: timedelta) -> datetime:
        """Moves the clock forward by `duration`, firing what falls due in order: it steps to
        each timer, scheduled start or delayed entity signal due within `duration`, lets the
        work it causes settle (up to 2 s each), and ends exactly `duration` after the call
        began. Automatic skipping is held meanwhile. Returns the time after.

        Raises:
            RuntimeError: time skipping is off.
            ValueError: a negative duration.
        """
        return _from_micros(self._native.skip(duration.total_seconds()))

    def lock_time_skipping(self) -> None:
        """Holds automatic skipping (counted) until `unlock_time_skipping()`; explicit
        `skip()` still works. Raises RuntimeError when time skipping is off."""
        self._native.lock_time_skipping()

    def unlock_time_skipping(self) -> None:
        """Releases one hold. Raises RuntimeError when none is held, or time skipping is off."""
        self._native.unlock_time_skipping()

    @contextlib.contextmanager
    def time_skipping_locked(self) -> Iterator[None]:
        """`with backend.time_skipping_locked():` holds automatic skipping inside the block."""
        self.lock_time_skipping()
        try:
            yield
        finally:
            self.unlock_time_skipping()

    def time_skipping_status(self) -> dict:
        """What automatic skipping sees now: `enabled`, `now`, `demand` (open waits), `holds`,
        `next_target` (a datetime or None), `blockers` ((kind, id) pairs, the first few),
        `blocker_count`, `budget_left`, `budget_exhausted`."""
        status = dict(self._native.time_skipping_status())
        status["now"] = _from_micros(status["now"])
        if status["next_target"] is not None:
            status["next_target"] = _from_micros(status["next_target"])
        return status

    def __enter__(self) -> "InMemoryOrchestrationBackend":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._native.running else "stopped"
        return f"<InMemoryOrchestrationBackend {self.address} {state}>"


def create_test_backend(
    port: int = 50051,
    max_history_size: int = 10000,
    *,
    auth_token: Union[str, Sequence[str], None] = None,
    tls_cert: Optional[_Path] = None,
    tls_key: Optional[_Path] = None,
    time_skipping: Optional[bool] = None,
    http_port: Optional[int] = None,
    store: Optional[str] = None,
) -> InMemoryOrchestrationBackend:
    """
    Factory function to create and start an in-memory backend for testing.

    Args:
        port: Port to listen on for gRPC connections (default 50051; 0 picks a free port)
        max_history_size: Maximum number of history events per orchestration (default 10000)
        auth_token, tls_cert, tls_key, time_skipping, http_port, store: as for
            `InMemoryOrchestrationBackend`
            (keyword only; `time_skipping=True` turns on time skipping)

    Returns:
        A started InMemoryOrchestrationBackend instance

    Example:
        ```python
        import pytest
        from durabletask_rs.testing import create_test_backend

        @pytest.fixture
        def backend():
            backend = create_test_backend(port=50051)
            yield backend
            backend.stop()
            backend.reset()
        ```
    """
    backend = InMemoryOrchestrationBackend(
        max_history_size=max_history_size,
        port=port,
        auth_token=auth_token,
        tls_cert=tls_cert,
        tls_key=tls_key,
        time_skipping=time_skipping,
        http_port=http_port,
        store=store,
    )
    backend.start()
    return backend


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


@atexit.register
def _stop_all() -> None:
    for backend in list(_live):
        backend.stop()
