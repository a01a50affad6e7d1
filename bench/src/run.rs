//! The state of one measured run, shared by the workers and the client: which instances exist
//! (ids `<prefix>-<i>`), when each was started and finished, how many are done, and the errors
//! seen (a count and the first few messages).

use crate::workload::Shape;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// How many error messages are kept (all are counted).
const KEPT_ERRORS: usize = 10;

pub(crate) struct Run {
    pub(crate) shape: Shape,
    pub(crate) n: usize,
    prefix: String,
    t0: Instant,
    /// Nanoseconds since `t0` + 1; 0 = not yet.
    started: Vec<AtomicU64>,
    finished: Vec<AtomicU64>,
    done: AtomicUsize,
    /// Whether the client marks instances finished (closed loop, waiters); otherwise a worker
    /// does when the server accepts an instance's last turn.
    pub(crate) client_observes: bool,
    error_count: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

impl Run {
    pub(crate) fn new(shape: Shape, n: usize, prefix: String, client_observes: bool) -> Self {
        let zeros = || (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            shape,
            n,
            prefix,
            t0: Instant::now(),
            started: zeros(),
            finished: zeros(),
            done: AtomicUsize::new(0),
            client_observes,
            error_count: AtomicUsize::new(0),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// The instance id of instance `i`.
    pub(crate) fn id(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    /// The number of one of our instance ids.
    pub(crate) fn index(&self, id: &str) -> Option<usize> {
        id.strip_prefix(&self.prefix)?
            .strip_prefix('-')?
            .parse()
            .ok()
            .filter(|&i| i < self.n)
    }

    /// Whether `id` is one of this run's instances.
    pub(crate) fn owns(&self, id: &str) -> bool {
        self.index(id).is_some()
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    pub(crate) fn mark_started(&self, i: usize) {
        if let Some(slot) = self.started.get(i) {
            slot.store(self.stamp(), Ordering::Relaxed);
        }
    }

    /// Records that instance `i` is done (the first time only).
    pub(crate) fn mark_finished(&self, i: usize) {
        let Some(slot) = self.finished.get(i) else {
            return;
        };
        if slot
            .compare_exchange(0, self.stamp(), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn done(&self) -> usize {
        self.done.load(Ordering::Relaxed)
    }

    pub(crate) fn error(&self, message: String) {
        self.error_count.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut kept) = self.errors.lock()
            && kept.len() < KEPT_ERRORS
        {
            kept.push(message);
        }
    }

    pub(crate) fn error_count(&self) -> usize {
        self.error_count.load(Ordering::Relaxed)
    }

    pub(crate) fn error_samples(&self) -> Vec<String> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Start-to-finish latencies in nanoseconds of the finished instances, sorted.
    pub(crate) fn latencies(&self) -> Vec<u64> {
        let mut all: Vec<u64> = self
            .started
            .iter()
            .zip(&self.finished)
            .filter_map(|(s, f)| {
                let (s, f) = (s.load(Ordering::Relaxed), f.load(Ordering::Relaxed));
                (s != 0 && f != 0).then(|| f.saturating_sub(s))
            })
            .collect();
        all.sort_unstable();
        all
    }
}

/// The `p`-th percentile (0–100, nearest rank) of sorted nanoseconds, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let k = rank.clamp(1, sorted.len()) - 1;
    sorted.get(k).copied().unwrap_or_default() as f64 / 1e6
}
