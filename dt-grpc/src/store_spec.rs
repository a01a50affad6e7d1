//! Where a server keeps its state: `--store memory` (the default), `--store sqlite://PATH`
//! (with `?synchronous=normal` to fsync only at checkpoints) or
//! `--store postgres://USER@HOST:PORT/DB`, parsed once here for the binary, `dt_testing` and
//! the Python package, and opened on the clock time skipping chose. A PostgreSQL URL is only
//! ever shown with its password hidden.

use dt_store::{Clock, MemoryStore, StoreConfig};
use dt_store_postgres::PgUrl;
pub use dt_store_sqlite::Synchronous;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// A store to serve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreSpec {
    /// Everything in memory, gone when the server stops.
    #[default]
    Memory,
    /// One SQLite file, created if missing; every change is on disk before it is acknowledged.
    Sqlite(PathBuf, Synchronous),
    /// A PostgreSQL database (`postgres://` or `postgresql://`), which several servers may
    /// share as one task hub; every change is committed before it is acknowledged.
    Postgres(PgUrl),
}

/// A `--store` value that names no store.
#[derive(Debug, thiserror::Error)]
pub enum StoreSpecError {
    /// Neither memory nor a known scheme.
    #[error(
        "unknown store '{0}': use 'memory', 'sqlite://PATH' (e.g. sqlite://dt.db, sqlite:///var/lib/dt/dt.db, sqlite://dt.db?synchronous=normal) or 'postgres://USER@HOST:PORT/DATABASE'"
    )]
    Unknown(String),
    /// A PostgreSQL URL the driver cannot read.
    #[error(transparent)]
    Postgres(#[from] dt_store_postgres::PgUrlError),
}

impl FromStr for StoreSpec {
    type Err = StoreSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"));
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.parse()?));
        }
        let bad = || StoreSpecError::Unknown(dt_store_postgres::redact(s));
        match (s, path) {
            ("memory", _) => Ok(Self::Memory),
            (_, Some(path)) => {
                let (path, synchronous) = match path.split_once('?') {
                    None => (path, Synchronous::Full),
                    Some((path, "synchronous=full")) => (path, Synchronous::Full),
                    Some((path, "synchronous=normal")) => (path, Synchronous::Normal),
                    Some(_) => return Err(bad()),
                };
                if path.is_empty() {
                    return Err(bad());
                }
                Ok(Self::Sqlite(PathBuf::from(path), synchronous))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path, Synchronous::Full) => write!(f, "sqlite://{}", path.display()),
            Self::Sqlite(path, Synchronous::Normal) => {
                write!(f, "sqlite://{}?synchronous=normal", path.display())
            }
            Self::Postgres(url) => write!(f, "{url}"),
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    /// The SQLite file cannot be used.
    #[error(transparent)]
    Sqlite(#[from] dt_store_sqlite::OpenError),
    /// The PostgreSQL database cannot be used.
    #[error(transparent)]
    Postgres(#[from] dt_store_postgres::OpenError),
}

/// A work item's lease on a shared store: it ends with its worker or its server, not by time.
const SERVER_HELD_LEASE: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 3600);

impl StoreSpec {
    /// Opens the store on `clock`. On PostgreSQL the config's lease duration is how long a
    /// server that stopped renewing keeps its workers' work; a live server keeps it as long
    /// as they take.
    pub fn open(
        &self,
        config: StoreConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<MemoryStore>, OpenStoreError> {
        Ok(Arc::new(match self {
            Self::Memory => MemoryStore::with_clock(config, clock),
            Self::Sqlite(path, synchronous) => {
                let options = dt_store_sqlite::SqliteOptions {
                    synchronous: *synchronous,
                    ..Default::default()
                };
                dt_store_sqlite::open_with(path, &options, config, clock)?
            }
            Self::Postgres(url) => {
                // Several servers share the database: work is held by its server, which
                // renews it while it lives, so the lease becomes how long a silent server
                // keeps its work before the others hand it out.
                let options = dt_store_postgres::PgOptions {
                    server_ttl: config.lease_duration,
                    ..Default::default()
                };
                let config = StoreConfig {
                    lease_duration: SERVER_HELD_LEASE,
                    ..config
                };
                dt_store_postgres::open_with(url, &options, config, clock)?
            }
        }))
    }

    /// Whether what it holds outlives the process.
    pub fn is_durable(&self) -> bool {
        !matches!(self, Self::Memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let parse = |s: &str| s.parse::<StoreSpec>().ok();
        let sqlite = |p: &str| Some(StoreSpec::Sqlite(p.into(), Synchronous::Full));
        assert_eq!(parse("memory"), Some(StoreSpec::Memory));
        assert_eq!(parse("sqlite://dt.db"), sqlite("dt.db"));
        assert_eq!(parse("sqlite:///var/lib/dt.db"), sqlite("/var/lib/dt.db"));
        assert_eq!(parse("sqlite:dt.db"), sqlite("dt.db"));
        assert_eq!(parse("sqlite://dt.db?synchronous=full"), sqlite("dt.db"));
        assert_eq!(
            parse("sqlite://dt.db?synchronous=normal"),
            Some(StoreSpec::Sqlite("dt.db".into(), Synchronous::Normal))
        );
        for bad in [
            "",
            "sqlite://",
            "sqlite://?synchronous=normal",
            "sqlite://dt.db?synchronous=off",
            "sqlite://dt.db?mode=ro",
            "postgres:",
            "Memory",
            "dt.db",
            "postgres://",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} is not a store");
        }
        for spec in [
            StoreSpec::Sqlite("/tmp/x.db".into(), Synchronous::Full),
            StoreSpec::Sqlite("/tmp/x.db".into(), Synchronous::Normal),
        ] {
            assert_eq!(parse(&spec.to_string()), Some(spec));
        }
    }

    #[test]
    fn parses_postgres_urls_and_never_shows_the_password() {
        for url in [
            "postgres://dt@127.0.0.1:5432/dt",
            "postgresql://dt@db.example/dt?sslmode=disable",
        ] {
            let spec = url.parse::<StoreSpec>().expect("a PostgreSQL URL");
            assert!(matches!(&spec, StoreSpec::Postgres(u) if u.expose() == url));
            assert_eq!(spec.to_string(), url, "no password, nothing hidden");
            assert!(spec.is_durable());
        }
        let spec = "postgres://dt:s3cret@db:5432/dt"
            .parse::<StoreSpec>()
            .expect("a URL with a password");
        assert_eq!(spec.to_string(), "postgres://dt:***@db:5432/dt");
        assert!(!format!("{spec:?}").contains("s3cret"));
        let err = "postgres://dt:s3cret@db:port/dt"
            .parse::<StoreSpec>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.is_empty() && !err.contains("s3cret"), "{err}");
        let err = "postgre://dt:s3cret@db/dt"
            .parse::<StoreSpec>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("unknown store") && !err.contains("s3cret"),
            "{err}"
        );
    }
}
