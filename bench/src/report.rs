//! The result of one driver invocation: one JSON object on one stdout line, which
//! `cargo xtask bench` parses. `ok` is false if any instance was missing or wrong, or any turn
//! or activity was dispatched twice.

use crate::meter::Usage;
use crate::run::{Run, percentile_ms};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize, Debug, Default)]
pub(crate) struct Report {
    pub(crate) workload: String,
    pub(crate) mode: String,
    pub(crate) n: usize,
    pub(crate) streams: usize,
    pub(crate) ok: bool,
    pub(crate) completed: usize,
    pub(crate) errors: usize,
    pub(crate) error_samples: Vec<String>,
    /// Instances not in their expected final state (part of `errors`).
    pub(crate) wrong: usize,
    /// Whether final states were read back and checked (not against the stateless floor).
    pub(crate) verified: bool,
    /// Work items the workers received, duplicates included.
    pub(crate) work_items: usize,
    /// Work items for a turn or activity that had been dispatched before (part of `errors`).
    pub(crate) duplicates: usize,
    pub(crate) wall_ms: f64,
    /// Instances finished per second of wall time.
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
    /// CPU of the PostgreSQL processes serving the store's database (`--postgres-database`).
    pub(crate) postgres_cpu_ms: Option<f64>,
    /// Committed history events of the first instance.
    pub(crate) history_events: Option<u64>,
    /// Measurements particular to a workload (e.g. `paging_ms`).
    pub(crate) extra: BTreeMap<String, f64>,
}

impl Report {
    /// A report of `run` measured by `usage`.
    pub(crate) fn new(
        workload: &str,
        mode: &str,
        streams: usize,
        run: &Run,
        usage: &Usage,
    ) -> Self {
        let latencies = run.latencies();
        let wall_s = usage.wall.as_secs_f64();
        Self {
            workload: workload.to_owned(),
            mode: mode.to_owned(),
            n: run.n,
            streams,
            ok: false,
            completed: run.done(),
            errors: 0,
            error_samples: Vec::new(),
            wrong: 0,
            verified: true,
            work_items: 0,
            duplicates: 0,
            wall_ms: wall_s * 1e3,
            throughput: if wall_s > 0.0 {
                run.done() as f64 / wall_s
            } else {
                0.0
            },
            p50_ms: percentile_ms(&latencies, 50.0),
            p99_ms: percentile_ms(&latencies, 99.0),
            driver_cpu_ms: usage.driver_cpu_ms,
            server_cpu_ms: usage.server_cpu_ms,
            server_rss_start_kb: usage.server_start.map(|s| s.rss_kb),
            server_rss_kb: usage.server_end.map(|s| s.rss_kb),
            server_hwm_kb: usage.server_end.map(|s| s.hwm_kb),
            server_threads_start: usage.server_start.map(|s| s.threads),
            server_threads: usage.server_end.map(|s| s.threads),
            postgres_cpu_ms: usage.postgres_cpu_ms,
            history_events: None,
            extra: BTreeMap::new(),
        }
    }

    /// Fills in the verdict from the run's final counts (call after verification).
    pub(crate) fn finish(&mut self, run: &Run) {
        self.completed = run.done();
        self.errors = run.error_count();
        self.error_samples = run.error_samples();
        self.wrong = run.wrong_count();
        self.work_items = run.ledger.work_items();
        self.duplicates = run.ledger.duplicates();
        self.ok = self.errors == 0 && self.completed == run.n;
    }
}
