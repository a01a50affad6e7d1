//! Where a server keeps its state: `--store memory` (the default) or `--store sqlite://PATH`,
//! parsed once here for the binary, `dt_testing` and the Python package, and opened on the
//! clock time skipping chose.

use dt_store::{Clock, MemoryStore, StoreConfig};
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
    Sqlite(PathBuf),
}

/// A `--store` value that names no store.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown store '{0}': use 'memory' or 'sqlite://PATH' (e.g. sqlite://dt.db, sqlite:///var/lib/dt/dt.db)"
)]
pub struct StoreSpecError(String);

impl FromStr for StoreSpec {
    type Err = StoreSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let path = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"));
        match (s, path) {
            ("memory", _) => Ok(Self::Memory),
            (_, Some(path)) if !path.is_empty() => Ok(Self::Sqlite(PathBuf::from(path))),
            _ => Err(StoreSpecError(s.to_owned())),
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
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
            Self::Sqlite(path) => dt_store_sqlite::open(path, config, clock)?,
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
        assert_eq!(parse("memory"), Some(StoreSpec::Memory));
        assert_eq!(
            parse("sqlite://dt.db"),
            Some(StoreSpec::Sqlite("dt.db".into()))
        );
        assert_eq!(
            parse("sqlite:///var/lib/dt.db"),
            Some(StoreSpec::Sqlite("/var/lib/dt.db".into()))
        );
        assert_eq!(
            parse("sqlite:dt.db"),
            Some(StoreSpec::Sqlite("dt.db".into()))
        );
        for bad in ["", "sqlite://", "postgres:", "Memory", "dt.db"] {
            assert_eq!(parse(bad), None, "{bad:?} is not a store");
        }
        let spec = StoreSpec::Sqlite("/tmp/x.db".into());
        assert_eq!(parse(&spec.to_string()), Some(spec));
    }
}
