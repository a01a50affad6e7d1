"""pytest plugin (registered through the `pytest11` entry point): the `dt_backend` fixture.

One in-process server per pytest session on a free port, reset before each test that asks for
it, so tests pay no start-up::

    def test_hello(dt_backend):
        with TaskHubGrpcWorker(host_address=dt_backend.address) as w: ...
"""

from typing import Iterator

import pytest

from durabletask_rs.testing import InMemoryOrchestrationBackend


@pytest.fixture(scope="session")
def dt_backend_session() -> Iterator[InMemoryOrchestrationBackend]:
    """The session's backend, on a free port; not reset between tests (use `dt_backend`)."""
    with InMemoryOrchestrationBackend(port=0) as backend:
        yield backend


@pytest.fixture
def dt_backend(dt_backend_session: InMemoryOrchestrationBackend) -> InMemoryOrchestrationBackend:
    """The session's backend, reset before this test: no instances, entities or queued work."""
    dt_backend_session.reset()
    return dt_backend_session
