"""durabletask-rs: a Rust backend for the Durable Task sidecar protocol, in-process.

`durabletask_rs.testing` is a drop-in for the SDK's `durabletask.testing`; the `dt-server`
command runs the same server standalone.
"""

from durabletask_rs._native import __version__

__all__ = ["__version__"]
