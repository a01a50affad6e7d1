"""A drop-in for the Durable Task SDK's `durabletask.testing`, backed by the Rust server.

Change `from durabletask.testing import ...` to `from durabletask_rs.testing import ...`;
nothing else in the tests needs to change.
"""

from durabletask_rs.testing.in_memory_backend import (
    InMemoryOrchestrationBackend,
    create_test_backend,
)

__all__ = [
    "InMemoryOrchestrationBackend",
    "create_test_backend",
]
