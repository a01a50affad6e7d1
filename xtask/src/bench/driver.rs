//! Running the `dt-bench` driver against a server and reading its one JSON result line. The
//! driver's progress (stderr) is shown as it runs, unless asked to be quiet.

use super::deploy::Deployment;
use super::plan::Case;
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// What the driver reports (see `bench/src/report.rs`).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(default)]
pub(crate) struct Outcome {
    pub(crate) n: usize,
    pub(crate) ok: bool,
    pub(crate) completed: usize,
    pub(crate) errors: usize,
    pub(crate) error_samples: Vec<String>,
    pub(crate) wrong: usize,
    pub(crate) verified: bool,
    pub(crate) work_items: usize,
    pub(crate) duplicates: usize,
    pub(crate) wall_ms: f64,
    pub(crate) throughput: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) driver_cpu_ms: f64,
    pub(crate) server_cpu_ms: Option<f64>,
    pub(crate) server_rss_start_kb: Option<u64>,
    pub(crate) server_rss_kb: Option<u64>,
    pub(crate) server_hwm_kb: Option<u64>,
    pub(crate) server_threads_start: Option<u64>,
    pub(crate) server_threads: Option<u64>,
    pub(crate) postgres_cpu_ms: Option<f64>,
    pub(crate) history_events: Option<u64>,
    pub(crate) extra: BTreeMap<String, f64>,
}

impl Outcome {
    /// Server CPU milliseconds per instance.
    pub(crate) fn cpu_per_instance(&self) -> Option<f64> {
        self.server_cpu_ms
            .filter(|_| self.n > 0)
            .map(|c| c / self.n as f64)
    }

    /// PostgreSQL's CPU milliseconds per instance (runs on a PostgreSQL store).
    pub(crate) fn postgres_cpu_per_instance(&self) -> Option<f64> {
        self.postgres_cpu_ms
            .filter(|_| self.n > 0)
            .map(|c| c / self.n as f64)
    }

    /// Resident memory the run added, in KiB.
    pub(crate) fn rss_growth_kb(&self) -> Option<u64> {
        Some(
            self.server_rss_kb?
                .saturating_sub(self.server_rss_start_kb?),
        )
    }
}

/// Runs the driver for `case` against `servers`; a driver that reports no result is an error,
/// one that reports wrong results returns an outcome with `ok == false`. `quiet` drops the
/// driver's stderr.
pub(crate) fn run(
    bench: &Path,
    servers: &Deployment,
    case: &Case,
    label: &str,
    quiet: bool,
) -> Result<Outcome> {
    let output = Command::new(bench)
        .args(servers.driver_args())
        .args(["--label", label])
        .args(&case.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        })
        .output()
        .with_context(|| format!("cannot run {}", bench.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .with_context(|| format!("{label}: the driver printed no result ({})", output.status))?;
    let outcome: Outcome =
        serde_json::from_str(line).with_context(|| format!("{label}: unreadable result {line}"))?;
    Ok(outcome)
}
