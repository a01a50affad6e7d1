//! The PostgreSQL server the tests and the bench use (`DT_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): whether it answers `psql`.

use anyhow::{Result, bail};
use std::process::Command;

/// The server's URL (its database is only where `CREATE DATABASE` runs).
pub(crate) fn url() -> String {
    std::env::var("DT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether the server answers `psql`. Where it does not, that is an error with
/// `DT_REQUIRE_POSTGRES=1` (CI), so a missing server cannot pass for a skipped step there.
pub(crate) fn answers() -> Result<bool> {
    let answered = Command::new("psql")
        .args([url().as_str(), "-qAtc", "SELECT 1"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !answered && std::env::var("DT_REQUIRE_POSTGRES").is_ok_and(|v| v.trim() == "1") {
        bail!("no PostgreSQL answers psql at DT_TEST_POSTGRES_URL (DT_REQUIRE_POSTGRES=1)");
    }
    Ok(answered)
}
