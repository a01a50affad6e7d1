"""Whole processes: the interpreter exits cleanly without stop(), Ctrl-C reaches Python and
leaves no port bound, a dropped backend frees its port, and the `dt-server` console script
takes exactly the Rust binary's options and stops on SIGINT and SIGTERM."""

from __future__ import annotations

import gc
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from conftest import PYTHON, WAIT, free_port, port_is_free
from durabletask_rs.testing import create_test_backend

REPO = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).parent / "dt-server"


class Child:
    """A child process whose stdout lines can be awaited with a deadline."""

    def __init__(self, args: list[str], **kwargs) -> None:
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, **kwargs)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr = ""
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for_line(self, pattern: str) -> re.Match[str]:
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {WAIT}s; saw {seen}")
            if line is None:
                pytest.fail(f"exited ({self.finish()}) before printing {pattern!r}; saw {seen}\n"
                            f"stderr: {self.stderr}")
            seen.append(line)
            if m := re.search(pattern, line):
                return m

    def finish(self) -> int:
        """Waits (with a deadline) for the exit; returns the exit code."""
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"process did not exit within {WAIT}s")
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return code


def python_child(source: str, *args: str) -> Child:
    return Child([PYTHON, "-c", textwrap.dedent(source), *args])


def test_interpreter_exits_cleanly_without_stop_while_a_client_is_connected():
    port = free_port()
    child = python_child("""
        import sys
        from durabletask import client
        from durabletask_rs.testing import create_test_backend
        backend = create_test_backend(port=int(sys.argv[1]))
        c = client.TaskHubGrpcClient(host_address=backend.address)
        c.schedule_new_orchestration("never_runs")
        print("ready", flush=True)
    """, str(port))
    child.wait_for_line("^ready$")
    assert child.finish() == 0, child.stderr
    assert "Traceback" not in child.stderr and "panicked" not in child.stderr, child.stderr
    assert port_is_free(port)


def test_ctrl_c_reaches_python_and_frees_the_port():
    port = free_port()
    child = python_child("""
        import sys, threading
        from durabletask_rs.testing import create_test_backend
        backend = create_test_backend(port=int(sys.argv[1]))
        try:
            print("ready", flush=True)
            threading.Event().wait()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
    """, str(port))
    child.wait_for_line("^ready$")
    assert not port_is_free(port)
    child.proc.send_signal(signal.SIGINT)
    child.wait_for_line("^interrupted$")
    assert child.finish() != 0
    assert "KeyboardInterrupt" in child.stderr
    assert port_is_free(port)


def test_ctrl_c_during_a_pytest_test_frees_the_port(tmp_path):
    port = free_port()
    (tmp_path / "test_blocks.py").write_text(textwrap.dedent(f"""
        import threading
        import pytest
        from durabletask_rs.testing import create_test_backend

        @pytest.fixture
        def backend():
            backend = create_test_backend(port={port})
            yield backend
            backend.stop()
            backend.reset()

        def test_blocks(backend):
            print("ready", flush=True)
            threading.Event().wait()
    """))
    child = Child([PYTHON, "-m", "pytest", "-s", "-p", "no:cacheprovider", "-p", "no:timeout",
                   str(tmp_path / "test_blocks.py")], cwd=tmp_path)
    child.wait_for_line("ready")
    child.proc.send_signal(signal.SIGINT)
    child.wait_for_line("KeyboardInterrupt")
    assert child.finish() == 2  # pytest's "interrupted"
    assert port_is_free(port)


def test_a_dropped_backend_frees_its_port():
    backend = create_test_backend(port=0)
    port = backend.port
    del backend
    gc.collect()
    assert port_is_free(port)


def rust_binary() -> Path:
    binary = Path(os.environ.get("DT_SERVER_BIN") or REPO / "target" / "debug" / "dt-server")
    if not binary.is_file():
        pytest.fail(f"{binary} not built (cargo build --bin dt-server, or set DT_SERVER_BIN)")
    return binary


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_console_script_prints_what_the_binary_prints(flag):
    ours = subprocess.run([str(CONSOLE_SCRIPT), flag], capture_output=True, text=True,
                          timeout=WAIT)
    theirs = subprocess.run([str(rust_binary()), flag], capture_output=True, text=True,
                            timeout=WAIT)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert "--max-history-size" in ours.stdout or flag == "--version"


def test_console_script_rejects_unknown_options_like_the_binary():
    ours = subprocess.run([str(CONSOLE_SCRIPT), "--no-such-option"], capture_output=True,
                          text=True, timeout=WAIT)
    theirs = subprocess.run([str(rust_binary()), "--no-such-option"], capture_output=True,
                            text=True, timeout=WAIT)
    assert ours.returncode == theirs.returncode == 2
    assert ours.stderr == theirs.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_console_script_serves_and_stops_on_a_signal(sig):
    child = Child([str(CONSOLE_SCRIPT), "--port", "0", "--max-history-size", "50"])
    port = int(child.wait_for_line(r"^dt-server listening on localhost:(\d+)$").group(1))
    from durabletask import client

    with client.TaskHubGrpcClient(host_address=f"localhost:{port}") as c:
        iid = c.schedule_new_orchestration("anything")
        assert c.get_orchestration_state(iid) is not None
    child.proc.send_signal(sig)
    assert child.finish() == 0, child.stderr
    assert "shutting down" in child.stderr
    assert port_is_free(port)


def test_console_script_port_in_use_fails_naming_the_port():
    backend = create_test_backend(port=0)
    try:
        child = Child([str(CONSOLE_SCRIPT), "--port", str(backend.port)])
        assert child.finish() != 0
        assert str(backend.port) in child.stderr
        assert "in use" in child.stderr.lower()
    finally:
        backend.stop()
