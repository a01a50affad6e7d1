//! The state of one measured run, shared by the workers and the client: which instances exist
//! (ids `<prefix>-<i>`), when each was started and finished, how many are done, the ledger of
//! what the workers received, each instance's expected final state, and the errors seen (a
//! count and the first few messages).

use crate::Config;
use crate::ledger::{Dispatch, Ledger};
use crate::workload::{Expected, Shape};
use prost_types::Timestamp;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How many error messages are kept (all are counted).
const KEPT_ERRORS: usize = 10;

/// How far the time an orchestration read from its history may be from the driver's own clock
/// (both run on one machine) before the timer check calls it implausible.
const CLOCK_SLACK: Duration = Duration::from_secs(5);

pub(crate) struct Run {
    pub(crate) shape: Shape,
    pub(crate) n: usize,
    prefix: String,
    t0: Instant,
    /// The driver's wall clock when the run began, to check times read from histories.
    wall_t0: SystemTime,
    /// Nanoseconds since `t0` + 1; 0 = not yet.
    started: Vec<AtomicU64>,
    finished: Vec<AtomicU64>,
    done: AtomicUsize,
    /// Whether the client marks instances finished (closed loop, waiters); otherwise a worker
    /// does when the server accepts an instance's last turn.
    pub(crate) client_observes: bool,
    /// Self-test: expect a wrong output of instance 0, so that a correct run must fail.
    expect_wrong: bool,
    pub(crate) ledger: Ledger,
    error_count: AtomicUsize,
    wrong: AtomicUsize,
    errors: Mutex<Vec<String>>,
}

impl Run {
    /// A run of `config`'s workload; `client_observes` as the field says.
    pub(crate) fn new(config: &Config, client_observes: bool) -> Self {
        let n = config.n;
        let zeros = || (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            shape: config.shape,
            n,
            prefix: config.prefix.clone(),
            t0: Instant::now(),
            wall_t0: SystemTime::now(),
            started: zeros(),
            finished: zeros(),
            done: AtomicUsize::new(0),
            client_observes,
            expect_wrong: config.expect_wrong,
            ledger: Ledger::new(n),
            error_count: AtomicUsize::new(0),
            wrong: AtomicUsize::new(0),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// Records that a worker received `dispatch` of instance `i`; a second dispatch of the
    /// same turn or activity is an error, since no workload lets a lease run out (workers
    /// answer at once and stay connected until the results are checked).
    pub(crate) fn dispatched(&self, i: usize, dispatch: Dispatch) {
        if !self.ledger.dispatched(i, dispatch) {
            self.error(format!("{}: {dispatch} was dispatched again", self.id(i)));
        }
    }

    /// The exact final state instance `i` must be in.
    pub(crate) fn expected(&self, i: usize) -> Result<Expected, String> {
        let timer = self.ledger.timer(i);
        if let (Shape::Timer { delay_secs, .. }, Some(fire_at)) = (self.shape, timer) {
            self.check_clock(fire_at, delay_secs)?;
        }
        let mut expected = self.shape.expected(i as u64, timer)?;
        if self.expect_wrong && i == 0 {
            let right = expected.output.unwrap_or_default();
            expected.output = Some(format!("{right} (deliberately wrong: --expect-wrong)"));
        }
        Ok(expected)
    }

    /// Whether a timer requested `delay_secs` after the orchestration's start time could have
    /// been requested during this run, by the driver's own clock.
    fn check_clock(&self, fire_at: Timestamp, delay_secs: i64) -> Result<(), String> {
        let asked_at = Duration::new(
            u64::try_from(fire_at.seconds.saturating_sub(delay_secs)).unwrap_or(0),
            u32::try_from(fire_at.nanos).unwrap_or(0),
        );
        let since_epoch = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let earliest = since_epoch(self.wall_t0).saturating_sub(CLOCK_SLACK);
        let latest = since_epoch(SystemTime::now()) + CLOCK_SLACK;
        if asked_at < earliest || asked_at > latest {
            return Err(format!(
                "its timer was asked for at {asked_at:?} after the epoch, outside this run \
                 ({earliest:?}..{latest:?})"
            ));
        }
        Ok(())
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

    /// Records an instance found in a state other than the expected one.
    pub(crate) fn wrong(&self, message: String) {
        self.wrong.fetch_add(1, Ordering::Relaxed);
        self.error(message);
    }

    /// Instances found in a state other than the expected one.
    pub(crate) fn wrong_count(&self) -> usize {
        self.wrong.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mode;

    fn config(shape: Shape, expect_wrong: bool) -> Config {
        Config {
            addresses: Vec::new(),
            workload: "test",
            shape,
            n: 3,
            mode: Mode::Open,
            streams: 1,
            clients: 1,
            concurrency: 1,
            page_size: 1,
            stall: Duration::from_secs(1),
            server_pids: Vec::new(),
            postgres_database: None,
            ticks_per_second: 100,
            label: String::new(),
            prefix: "p".to_owned(),
            expect_wrong,
            floor: false,
        }
    }

    #[test]
    fn expect_wrong_changes_the_first_instances_expectation_only() {
        let right = Run::new(&config(Shape::Hello, false), false);
        let wrong = Run::new(&config(Shape::Hello, true), false);
        assert_ne!(wrong.expected(0), right.expected(0));
        assert_eq!(wrong.expected(1), right.expected(1));
        assert_eq!(wrong.expected(2), right.expected(2));
    }

    #[test]
    fn a_second_dispatch_is_an_error() {
        let run = Run::new(&config(Shape::Hello, false), false);
        run.dispatched(1, Dispatch::Turn { history: 0 });
        run.dispatched(1, Dispatch::Activity { task: 1 });
        assert_eq!(run.error_count(), 0);
        run.dispatched(1, Dispatch::Activity { task: 1 });
        assert_eq!(run.error_count(), 1);
        assert_eq!(run.ledger.duplicates(), 1);
    }

    #[test]
    fn a_timer_requested_outside_the_run_is_not_expected() {
        let run = Run::new(
            &config(
                Shape::Timer {
                    delay_secs: 0,
                    parks: false,
                },
                false,
            ),
            false,
        );
        assert!(run.expected(0).is_err(), "no timer was requested");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seconds = i64::try_from(now.as_secs()).unwrap_or_default();
        run.ledger
            .timer_requested(0, Timestamp { seconds, nanos: 0 });
        assert!(run.expected(0).is_ok());
        run.ledger.timer_requested(
            1,
            Timestamp {
                seconds: seconds - 3600,
                nanos: 0,
            },
        );
        assert!(run.expected(1).is_err());
    }
}
