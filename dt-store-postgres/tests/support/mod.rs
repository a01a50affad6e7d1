//! Fresh databases for the tests: each test gets `dt_test_<random>` on the server at
//! `DT_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`), dropped when
//! its [`TestDb`] goes. Where no server answers, the tests pass after one `SKIPPED` line per
//! test binary, unless `DT_REQUIRE_POSTGRES=1` (CI), where they fail.
//!
//! The driver blocks on a runtime of its own, so every admin statement runs on a thread of
//! its own, never on the test's runtime.

#![allow(dead_code, unreachable_pub)]

use postgres::{Client, NoTls};
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The server the tests use.
pub fn base_url() -> String {
    std::env::var("DT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned())
}

fn required() -> bool {
    std::env::var("DT_REQUIRE_POSTGRES").is_ok_and(|v| v.trim() == "1")
}

/// Runs `f` on a thread of its own (off the test's runtime) and waits for it.
pub fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(f)
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// A connection to `url` for the tests' own statements (call it off the runtime).
pub fn admin(url: &str) -> Result<Client, postgres::Error> {
    let mut config: postgres::Config = url.parse()?;
    config.connect_timeout(Duration::from_secs(3));
    config.connect(NoTls)
}

/// Whether a server answers at [`base_url`]; asked once per test binary. Without one: one
/// SKIPPED line, or a panic when `DT_REQUIRE_POSTGRES=1`.
pub fn available() -> bool {
    static ANSWER: OnceLock<Result<(), String>> = OnceLock::new();
    let answer = ANSWER.get_or_init(|| {
        let url = base_url();
        let probe = url.clone();
        let answer = off_runtime(move || {
            admin(&probe)
                .map(drop)
                .map_err(|e| match std::error::Error::source(&e) {
                    Some(source) => format!("{e}: {source}"),
                    None => e.to_string(),
                })
        });
        let shown = dt_store_postgres::redact(&url);
        if let Err(err) = &answer
            && !required()
        {
            // Written to stderr directly: the test harness captures print!/eprint!.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: no PostgreSQL at {shown} ({err}; set DT_TEST_POSTGRES_URL)"
            );
        }
        answer.map_err(|err| format!("no PostgreSQL at {shown}: {err} (DT_REQUIRE_POSTGRES=1)"))
    });
    match answer {
        Ok(()) => true,
        Err(err) if required() => panic!("{err}"),
        Err(_) => false,
    }
}

/// A database made for one test, dropped with it.
pub struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// A new empty database, or `None` where the tests skip.
    pub fn fresh() -> Option<Self> {
        if !available() {
            return None;
        }
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "dt_test_{}_{}_{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let base = base_url();
        let create = format!("CREATE DATABASE {name}");
        off_runtime(move || admin(&base)?.batch_execute(&create))
            .unwrap_or_else(|err| panic!("cannot create a test database: {err}"));
        let url = with_database(&base_url(), &name);
        Some(Self { name, url })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schema version dt-server recorded in it.
    pub fn schema_version(&self) -> i32 {
        let url = self.url.clone();
        off_runtime(move || {
            admin(&url)?
                .query_one("SELECT version FROM dt_schema", &[])
                .map(|row| row.get(0))
        })
        .unwrap_or_else(|err| panic!("cannot read the schema version: {err}"))
    }

    /// Runs `sql` in it on a connection of the test's own.
    pub fn execute(&self, sql: &str) -> Result<(), postgres::Error> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        off_runtime(move || admin(&url)?.batch_execute(&sql))
    }

    /// The pid of the session holding dt-server's lock on this database, if one does.
    pub fn server_pid(&self) -> Option<i32> {
        let (base, name) = (base_url(), self.name.clone());
        off_runtime(move || {
            admin(&base)
                .and_then(|mut c| {
                    c.query_opt(
                        "SELECT pid FROM pg_stat_activity
                         WHERE datname = $1 AND application_name = 'dt-server'",
                        &[&name],
                    )
                })
                .ok()
                .flatten()
                .map(|row| row.get(0))
        })
    }

    /// Ends the session `pid`, as a database restart or an administrator would.
    pub fn terminate(&self, pid: i32) {
        let base = base_url();
        off_runtime(move || {
            admin(&base).and_then(|mut c| c.execute("SELECT pg_terminate_backend($1)", &[&pid]))
        })
        .unwrap_or_else(|err| panic!("cannot terminate session {pid}: {err}"));
    }
}

impl TestDb {
    /// Ends every session on this database, as a restart of the database server would.
    pub fn terminate_all(&self) {
        let (base, name) = (base_url(), self.name.clone());
        off_runtime(move || {
            admin(&base).and_then(|mut c| {
                c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
            })
        })
        .unwrap_or_else(|err| panic!("cannot terminate the sessions: {err}"));
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (base, name) = (base_url(), self.name.clone());
        let dropped = off_runtime(move || {
            admin(&base)?.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        });
        if let Err(err) = dropped {
            let _ = writeln!(
                std::io::stderr(),
                "cannot drop test database {}: {err}",
                self.name
            );
        }
    }
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_start = head.find("://").map_or(0, |at| at + 3);
    let authority_end = head[authority_start..]
        .find('/')
        .map_or(head.len(), |at| authority_start + at);
    format!("{}/{name}{query}", &head[..authority_end])
}
