//! Where a server keeps its state: `--store memory` (the default) or `--store sqlite://PATH`
//! (with `?synchronous=normal` to fsync only at checkpoints), parsed once here for the binary,
//! `dt_testing` and the Python package, and opened on the clock time skipping chose.

use dt_store::{Clock, MemoryStore, StoreConfig};
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
}

/// A `--store` value that names no store.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown store '{0}': use 'memory' or 'sqlite://PATH' (e.g. sqlite://dt.db, sqlite:///var/lib/dt/dt.db, sqlite://dt.db?synchronous=normal)"
)]
pub struct StoreSpecError(String);

impl FromStr for StoreSpec {
    type Err = StoreSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"));
        let bad = || StoreSpecError(s.to_owned());
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
        }
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenStoreError {
    /// The SQLite file cannot be used.
    #[error(transparent)]
    Sqlite(#[from] dt_store_sqlite::OpenError),
}

impl StoreSpec {
    /// Opens the store on `clock`.
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
}
