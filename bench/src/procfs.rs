//! Readings of a process from Linux's /proc: CPU time (utime + stime of all its threads, in
//! clock ticks), resident memory now and at its peak, and its thread count. The driver reads
//! the server's (by pid) and its own (`self`).

use anyhow::{Context, Result};
use std::process::Command;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    /// utime + stime in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// VmRSS in KiB.
    pub(crate) rss_kb: u64,
    /// VmHWM (peak resident set) in KiB.
    pub(crate) hwm_kb: u64,
    /// Threads.
    pub(crate) threads: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `pid` is a number or `self`.
pub(crate) fn sample(pid: &str) -> Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start with field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |k: usize| -> Result<u64> {
        fields
            .get(k)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("malformed stat field {}", k + 3))
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        cpu_ticks: tick(11)? + tick(12)?,
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
        threads: field("Threads:"),
    })
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that cannot be run).
pub(crate) fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Milliseconds of CPU between two readings.
pub(crate) fn cpu_ms(before: Sample, after: Sample, ticks_per_second: u64) -> f64 {
    after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 * 1000.0 / ticks_per_second as f64
}
