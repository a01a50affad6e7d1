//! The Python end-to-end tests: pytest on `tests/python`, against the debug `dt-server` binary
//! (`DT_SERVER_BIN`), the same binary on SQLite files (`DT_E2E_STORE=sqlite`), or against the
//! installed `durabletask_rs` package in-process (`DT_E2E_BACKEND=inprocess`).

use crate::cmd;
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
    match mode {
        Mode::Binary | Mode::BinarySqlite => {
            let server = cmd::target_dir(root).join("debug").join("dt-server");
            if !server.is_file() {
                bail!("{} was not built", server.display());
            }
            command.env("DT_SERVER_BIN", &server);
            if matches!(mode, Mode::BinarySqlite) {
                command.env("DT_E2E_STORE", "sqlite");
            }
        }
        Mode::InProcess => {
            command.env("DT_E2E_BACKEND", "inprocess");
        }
    }
    cmd::run(&mut command)
}
