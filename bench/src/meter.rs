//! Measuring a phase of a run: wall time, the driver's own CPU, and the server's CPU, resident
//! memory (at the start, at the end, peak) and thread count, all from /proc.

use crate::procfs::{self, Sample};
use anyhow::Result;
use std::time::{Duration, Instant};

/// A phase being measured.
pub(crate) struct Meter {
    server_pid: Option<String>,
    ticks_per_second: u64,
    start: Instant,
    driver: Sample,
    server: Option<Sample>,
}

/// What a phase cost.
pub(crate) struct Usage {
    pub(crate) wall: Duration,
    pub(crate) driver_cpu_ms: f64,
    pub(crate) server_cpu_ms: Option<f64>,
    pub(crate) server_start: Option<Sample>,
    pub(crate) server_end: Option<Sample>,
}

impl Meter {
    /// Takes the starting readings.
    pub(crate) fn start(server_pid: Option<u32>, ticks_per_second: u64) -> Result<Self> {
        let server_pid = server_pid.map(|p| p.to_string());
        let server = server_pid.as_deref().map(procfs::sample).transpose()?;
        Ok(Self {
            server_pid,
            ticks_per_second,
            start: Instant::now(),
            driver: procfs::sample("self")?,
            server,
        })
    }

    /// Takes the ending readings.
    pub(crate) fn stop(&self) -> Result<Usage> {
        let wall = self.start.elapsed();
        let driver = procfs::sample("self")?;
        let server_end = self.server_pid.as_deref().map(procfs::sample).transpose()?;
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
        })
    }
}
