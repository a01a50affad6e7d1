//! The PostgreSQL server the tests and the bench use (`DT_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): whether it answers, and databases of their own
//! made and dropped on it with `psql`, which is all xtask needs of PostgreSQL.

use anyhow::{Context, Result, bail};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

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

/// A database of its own on the server, dropped (with whatever is still connected to it) when
/// this is dropped.
pub(crate) struct Database {
    pub(crate) name: String,
    /// The `--store` URL of the database.
    pub(crate) url: String,
}

impl Database {
    /// Makes `<prefix>_<pid>_<nanoseconds>`.
    pub(crate) fn create(prefix: &str) -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("{prefix}_{}_{nanos}", std::process::id());
        let server = url();
        psql(&server, &format!("CREATE DATABASE {name}"))?;
        let (head, query) = server
            .split_once('?')
            .map_or((server.as_str(), None), |(h, q)| (h, Some(q)));
        let authority = head.find("://").map_or(0, |i| i + 3);
        let base = head[authority..]
            .find('/')
            .map_or(head, |slash| &head[..authority + slash]);
        let url = match query {
            Some(q) => format!("{base}/{name}?{q}"),
            None => format!("{base}/{name}"),
        };
        Ok(Self { name, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = psql(&url(), &sql) {
            eprintln!("warning: {e:#}");
        }
    }
}

fn psql(url: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .context("cannot run psql (PostgreSQL's client)")?;
    if !out.status.success() {
        bail!(
            "psql could not run {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
