//! The Python end-to-end tests: pytest on `tests/python`, against the debug `dt-server` binary
//! (`DT_SERVER_BIN`), the same binary on SQLite files (`DT_E2E_STORE=sqlite`), two servers on
//! each PostgreSQL database with clients on one and workers on the other
//! (`DT_E2E_STORE=postgres-pair`), or against the installed `durabletask_rs` package in-process
//! (`DT_E2E_BACKEND=inprocess`). The tests of several servers on one PostgreSQL database
//! (`test_multi_server.py`) run in the PostgreSQL step only.

use crate::{cmd, postgres};
use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;

/// Which backend the suite runs against.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    /// `target/debug/dt-server`, one process per test module.
    Binary,
    /// The same, each server on a SQLite file of its own (`--store sqlite://...`).
    BinarySqlite,
    /// The same, each test module's server on a PostgreSQL database of its own
    /// (`--store postgres://...`) with a second server on it, which the module's workers use:
    /// every test crosses two servers of one task hub.
    BinaryPostgres,
    /// `durabletask_rs.testing` inside the pytest process.
    InProcess,
}

/// Runs `<venv python> -m pytest tests/python <extra>` from the workspace root.
pub(crate) fn run(root: &Path, python: &Path, extra: &[String], mode: Mode) -> Result<()> {
    if !root.join("tests").join("python").is_dir() {
        bail!("tests/python does not exist yet: there are no Python end-to-end tests to run");
    }
    let mut command = Command::new(python);
    command
        .args(["-m", "pytest", "tests/python"])
        .args(extra)
        .current_dir(root);
    if !matches!(mode, Mode::BinaryPostgres) {
        // test_multi_server.py names its own store, so under any other DT_E2E_STORE it would
        // repeat the same tests: it skips instead (rather than being left out, so that pytest
        // arguments selecting only it still find tests in every step).
        command.env("DT_E2E_SKIP_MULTI_SERVER", "1");
    }
    match mode {
        Mode::Binary | Mode::BinarySqlite | Mode::BinaryPostgres => {
            let server = cmd::target_dir(root).join("debug").join("dt-server");
            if !server.is_file() {
                bail!("{} was not built", server.display());
            }
            command.env("DT_SERVER_BIN", &server);
            match mode {
                Mode::BinarySqlite => {
                    command.env("DT_E2E_STORE", "sqlite");
                }
                Mode::BinaryPostgres => {
                    if !postgres::answers()? {
                        println!(
                            "SKIPPED: no PostgreSQL answers psql at DT_TEST_POSTGRES_URL \
                             (set DT_TEST_POSTGRES_URL)"
                        );
                        return Ok(());
                    }
                    command.env("DT_E2E_STORE", "postgres-pair");
                }
                _ => {}
            }
        }
        Mode::InProcess => {
            command.env("DT_E2E_BACKEND", "inprocess");
        }
    }
    cmd::run(&mut command)
}
