"""Type stubs for the native module (Rust, PyO3). Use `durabletask_rs.testing` instead."""

import os
from typing import Optional, Sequence, Union

__version__: str

class Backend:
    """The in-process server behind `InMemoryOrchestrationBackend`."""

    def __init__(
        self,
        *,
        max_history_size: int,
        port: int,
        auth_token: Union[str, Sequence[str], None] = None,
        tls_cert: Union[str, os.PathLike[str], None] = None,
        tls_key: Union[str, os.PathLike[str], None] = None,
        time_skipping: Optional[bool] = None,
        http_port: Optional[int] = None,
        store: Optional[str] = None,
    ) -> None:
        """Checks the options (TypeError for a missing, unknown or non-int one, ValueError for
        a value out of range); starts nothing."""
    def now_micros(self) -> int:
        """The backend's time in microseconds since the epoch (virtual with time skipping)."""
    def skip(self, seconds: float) -> int:
        """Skips ahead firing what falls due in order; returns the time after (microseconds).
        RuntimeError when time skipping is off, ValueError for a negative duration."""
    def lock_time_skipping(self) -> None:
        """Takes one hold on automatic skipping (RuntimeError when off)."""
    def unlock_time_skipping(self) -> None:
        """Releases one hold (RuntimeError when none is held or skipping is off)."""
    def time_skipping_status(self) -> dict:
        """The status; times in microseconds since the epoch."""
    def start(self) -> int:
        """Binds and serves; returns the bound port. Returns it without doing anything when
        already running. Raises OSError (with errno) when the port cannot be bound."""
    def stop(self, grace: Optional[float] = None) -> None:
        """Stops serving; connections get up to `grace` seconds (None: 1) to close, then are
        cut; the port is free when this returns. Does nothing when stopped."""
    def reset(self) -> None:
        """Forgets every instance, entity and queued work item, running or not."""
    @property
    def port(self) -> int:
        """The bound port (the last one after stop()), or the configured one before start()."""
    @property
    def http_port(self) -> Optional[int]:
        """The dashboard's port, like `port`; None without HTTP."""
    @property
    def running(self) -> bool:
        """Whether a server is running."""

def run_server(argv: list[str]) -> int:
    """The `dt-server` command: parses argv like the Rust binary and serves until a Python
    signal handler raises (the server is stopped first). Returns the exit code."""
