"""Clear Python exceptions for bad input: OSError naming the port when it is taken, TypeError
and ValueError for bad arguments; a failed start leaves the backend usable."""

from __future__ import annotations

import errno
import socket

import pytest

from conftest import free_port, port_is_free
from durabletask_rs.testing import InMemoryOrchestrationBackend, create_test_backend


def test_port_in_use_by_another_socket_raises_oserror_naming_the_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as raised:
            create_test_backend(port=port)
        assert raised.value.errno == errno.EADDRINUSE
        assert str(port) in str(raised.value)


def test_port_in_use_by_another_backend_and_a_retry_after_it_stops():
    first = create_test_backend(port=0)
    second = InMemoryOrchestrationBackend(port=first.port)
    with pytest.raises(OSError, match=str(first.port)):
        second.start()
    assert "stopped" in repr(second)
    first.stop()
    assert second.start() == first.address
    second.stop()
    assert port_is_free(first.port)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_history_size": 0}, ValueError, "max_history_size must be at least 1, got 0"),
    ({"max_history_size": -5}, ValueError, "at least 1"),
    ({"max_history_size": 2**80}, ValueError, "out of range"),
    ({"port": -1}, ValueError, "port must be between 0 and 65535, got -1"),
    ({"port": 65536}, ValueError, "between 0 and 65535"),
    ({"port": "50051"}, TypeError, "port must be an int, not str"),
    ({"port": 50051.0}, TypeError, "port must be an int, not float"),
    ({"port": True}, TypeError, "port must be an int, not bool"),
    ({"port": None}, TypeError, "not NoneType"),
    ({"max_history_size": "10"}, TypeError, "max_history_size must be an int, not str"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        InMemoryOrchestrationBackend(**kwargs)
    with pytest.raises(error, match=message):
        create_test_backend(**{"port": free_port(), **kwargs})


@pytest.mark.parametrize("grace, error", [
    (-1, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
    ("1", TypeError), (True, TypeError),
])
def test_bad_grace(grace, error):
    backend = create_test_backend(port=0)
    try:
        with pytest.raises(error, match="grace"):
            backend.stop(grace)
        assert "running" in repr(backend)
    finally:
        backend.stop()


def test_the_native_layer_refuses_options_it_does_not_know():
    from durabletask_rs import _native

    with pytest.raises(TypeError, match="unexpected option clock"):
        _native.Backend(max_history_size=10, port=0, time_skipping=None, clock="virtual")
    with pytest.raises(TypeError, match="missing option port"):
        _native.Backend(max_history_size=10, time_skipping=None)
    with pytest.raises(TypeError, match="time_skipping must be a bool or None, not int"):
        _native.Backend(max_history_size=10, port=0, time_skipping=1)
