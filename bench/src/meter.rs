//! Measuring a phase of a run: wall time, the driver's own CPU, the servers' CPU, resident
//! memory (at the start, at the end, peak) and thread count (summed over the servers), and the
//! CPU of the PostgreSQL processes serving their database, all from /proc.

use crate::Config;
use crate::procfs::{self, Sample};
use anyhow::Result;
use std::time::{Duration, Instant};

/// A phase being measured.
pub(crate) struct Meter {
    server_pids: Vec<String>,
    ticks_per_second: u64,
    start: Instant,
    driver: Sample,
    server: Option<Sample>,
    /// The database and its PostgreSQL processes' CPU ticks at the start.
    postgres: Option<(String, u64)>,
}

/// What a phase cost.
pub(crate) struct Usage {
    pub(crate) wall: Duration,
    pub(crate) driver_cpu_ms: f64,
    pub(crate) server_cpu_ms: Option<f64>,
    pub(crate) server_start: Option<Sample>,
    pub(crate) server_end: Option<Sample>,
    pub(crate) postgres_cpu_ms: Option<f64>,
}

impl Meter {
    /// Takes the starting readings of what `config` names.
    pub(crate) fn start(config: &Config) -> Result<Self> {
        let server_pids: Vec<String> = config.server_pids.iter().map(u32::to_string).collect();
        let server = procfs::sample_all(&server_pids)?;
        let postgres = config.postgres_database.clone().map(|db| {
            let ticks = procfs::postgres_ticks(&db);
            (db, ticks)
        });
        Ok(Self {
            server_pids,
            ticks_per_second: config.ticks_per_second,
            start: Instant::now(),
            driver: procfs::sample("self")?,
            server,
            postgres,
        })
    }

    /// Takes the ending readings.
    pub(crate) fn stop(&self) -> Result<Usage> {
        let wall = self.start.elapsed();
        let driver = procfs::sample("self")?;
        let server_end = procfs::sample_all(&self.server_pids)?;
        let tps = self.ticks_per_second;
        Ok(Usage {
            wall,
            driver_cpu_ms: procfs::cpu_ms(self.driver, driver, tps),
            server_cpu_ms: self
                .server
                .zip(server_end)
                .map(|(a, b)| procfs::cpu_ms(a, b, tps)),
            server_start: self.server,
            server_end,
            postgres_cpu_ms: self.postgres.as_ref().map(|(db, before)| {
                let after = procfs::postgres_ticks(db);
                after.saturating_sub(*before) as f64 * 1000.0 / tps as f64
            }),
        })
    }
}
