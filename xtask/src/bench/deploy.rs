//! What one bench run measures: a backend's server, or for `ours-pg` and `ours-pg×2` one or
//! two of ours on a PostgreSQL database made for the run (`dt_bench_...`) and dropped after it.
//! The driver is given every server's address and pid, and the database's name.

use super::server::{Backend, Launcher, Server};
use crate::postgres;
use anyhow::Result;

/// Running servers and the database they share; the servers stop before the database is
/// dropped (fields drop in order).
pub(crate) struct Deployment {
    servers: Vec<Server>,
    database: Option<postgres::Database>,
    pub(crate) backend: Backend,
}

impl Deployment {
    /// Starts `backend` for one run, with `args` on each server's command line.
    pub(crate) fn start(
        launcher: &Launcher,
        backend: Backend,
        args: &[String],
        log_name: &str,
    ) -> Result<Self> {
        let count = match backend {
            Backend::OursPostgres => 1,
            Backend::OursPostgresPair => 2,
            _ => {
                let server = launcher.start(backend, args, log_name)?;
                return Ok(Self {
                    servers: vec![server],
                    database: None,
                    backend,
                });
            }
        };
        let database = postgres::Database::create("dt_bench")?;
        let mut with_store = args.to_vec();
        with_store.extend(["--store".to_owned(), database.url.clone()]);
        let mut servers = Vec::with_capacity(count);
        for i in 0..count {
            // Each server's log beside the first's: `<name>.log`, `<name>-2.log`.
            let log = match i {
                0 => log_name.to_owned(),
                _ => format!("{log_name}-{}", i + 1),
            };
            servers.push(launcher.start(backend, &with_store, &log)?);
        }
        Ok(Self {
            servers,
            database: Some(database),
            backend,
        })
    }

    /// The driver's arguments naming the servers (and the database, to measure PostgreSQL).
    pub(crate) fn driver_args(&self) -> Vec<String> {
        let join = |f: &dyn Fn(&Server) -> String| {
            self.servers.iter().map(f).collect::<Vec<_>>().join(",")
        };
        let mut args = vec![
            "--address".to_owned(),
            join(&Server::address),
            "--server-pid".to_owned(),
            join(&|s| s.pid().to_string()),
        ];
        if let Some(db) = &self.database {
            args.extend(["--postgres-database".to_owned(), db.name.clone()]);
        }
        args.extend(self.backend.driver_args().iter().map(|a| (*a).to_owned()));
        args
    }
}
