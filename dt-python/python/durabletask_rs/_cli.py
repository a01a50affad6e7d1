"""The `dt-server` console script: the Rust `dt-server` binary's command line, run in-process.

The options are parsed by the same Rust code as the binary's. SIGINT and SIGTERM stop it
cleanly (exit status 0), as they stop the binary.
"""

import signal
import sys
from typing import Any

from durabletask_rs import _native


class _Terminated(Exception):
    """Raised by the SIGTERM handler to stop the server."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated


def main() -> int:
    """Runs `dt-server` with `sys.argv`; returns its exit status."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _native.run_server(sys.argv)
    except (KeyboardInterrupt, _Terminated):
        return 0
    except (OSError, RuntimeError) as error:  # as the binary reports its errors
        print(f"Error: {error.strerror or error if isinstance(error, OSError) else error}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
