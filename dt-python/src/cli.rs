//! `run_server(argv)`: the Python package's `dt-server` command. It runs `dt_grpc::cli`, the
//! same code as the Rust binary, on a thread of its own, while the calling (main) thread waits
//! in short slices with the GIL released and lets Python see its signals: Ctrl-C raises
//! `KeyboardInterrupt` in Python as usual, and the server is stopped before it propagates.

use crate::errors::Error;
use clap::Parser;
use dt_grpc::cli::{self, Args};
use pyo3::prelude::*;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// How often the waiting thread checks for Python signals.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// Parses `argv` (with the program name first) like the `dt-server` binary and serves until
/// the server fails or a Python signal handler raises. Returns the exit code for `--help`,
/// `--version` and usage errors (clap prints those), 0 after a normal stop.
#[pyfunction]
pub(crate) fn run_server(py: Python<'_>, argv: Vec<String>) -> PyResult<i32> {
    let args = match Args::try_parse_from(argv) {
        Ok(args) => args,
        Err(usage) => {
            let _ = usage.print();
            return Ok(usage.exit_code());
        }
    };
    cli::init_logging();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel::<Result<(), Error>>();
    let thread = std::thread::Builder::new()
        .name("dt-server".to_owned())
        .spawn(move || {
            let result = args.runtime().and_then(|runtime| {
                runtime.block_on(cli::run(args, async {
                    let _ = stop_rx.await;
                }))
            });
            let _ = done_tx.send(result.map_err(Error::from));
        })
        .map_err(Error::Os)?;
    let mut done_rx = done_rx;
    loop {
        // The receiver is not Sync: it moves into the GIL-free closure and back out.
        let (outcome, rx) =
            py.detach(move || (done_rx.recv_timeout(SIGNAL_CHECK_INTERVAL), done_rx));
        done_rx = rx;
        match outcome {
            Ok(result) => {
                let _ = py.detach(|| thread.join());
                result?;
                return Ok(0);
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(raised) = py.check_signals() {
                    let _ = stop_tx.send(());
                    let _ = py.detach(|| thread.join());
                    return Err(raised);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = py.detach(|| thread.join());
                return Err(Error::ServerThreadLost.into());
            }
        }
    }
}
