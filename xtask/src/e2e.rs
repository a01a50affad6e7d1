//! The Python end-to-end tests: pytest on `tests/python`, against the debug `dt-server` binary
//! (`DT_SERVER_BIN`), the same binary on SQLite files (`DT_E2E_STORE=sqlite`) or PostgreSQL
//! databases (`DT_E2E_STORE=postgres`), or against the installed `durabletask_rs` package
//! in-process (`DT_E2E_BACKEND=inprocess`).

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
    /// The same, each server on a PostgreSQL database of its own (`--store postgres://...`),
    /// on a representative part of the suite only ([`POSTGRES_SELECTION`]).
    BinaryPostgres,
    /// `durabletask_rs.testing` inside the pytest process.
    InProcess,
}

/// The part of the suite run on PostgreSQL: the quickstart, activities, timers and entities
/// cover every table the store writes, in about a fifth of the suite's time (the whole suite
/// takes ~100 s per backend; the store's own tests run the conformance suite on it).
pub(crate) const POSTGRES_SELECTION: &str = "quickstart or activity or timers or entities";

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
                    if !postgres_answers()? {
                        return Ok(());
                    }
                    command.env("DT_E2E_STORE", "postgres");
                    if extra.is_empty() {
                        command.args(["-k", POSTGRES_SELECTION]);
                    }
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

/// Whether the PostgreSQL server the tests use (`DT_TEST_POSTGRES_URL`) answers `psql`. Where
/// none does, the step passes after one SKIPPED line, unless `DT_REQUIRE_POSTGRES=1` (CI).
fn postgres_answers() -> Result<bool> {
    let url = std::env::var("DT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let answered = Command::new("psql")
        .args([url.as_str(), "-qAtc", "SELECT 1"])
        .output()
        .is_ok_and(|out| out.status.success());
    if answered {
        return Ok(true);
    }
    let required = std::env::var("DT_REQUIRE_POSTGRES").is_ok_and(|v| v.trim() == "1");
    if required {
        bail!("no PostgreSQL answers psql at DT_TEST_POSTGRES_URL (DT_REQUIRE_POSTGRES=1)");
    }
    println!(
        "SKIPPED: no PostgreSQL answers psql at DT_TEST_POSTGRES_URL (set DT_TEST_POSTGRES_URL)"
    );
    Ok(false)
}
