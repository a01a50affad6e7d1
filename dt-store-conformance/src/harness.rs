//! Running one check: the store under test with the clock the suite gave it, the factory that
//! builds it, and how a failed expectation is reported.

use chrono::{DateTime, Utc};
use dt_store::{Clock, ManualClock, Store, StoreConfig};
use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// How long a check waits, in real time, for something that must happen on the waiting path
/// (a parked `next_work_item`, a `wait_for_instance`). Only a failing store ever waits this
/// long: everything else is an answer of the store, not a race with a timer.
pub const ITEM_WAIT: Duration = Duration::from_secs(5);
/// The real-time bound on one check, so a store that hangs fails instead.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the suite's clock starts: a fixed instant, so the times a store records are exact.
pub fn start_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_893_456_000, 0).unwrap_or(DateTime::UNIX_EPOCH) // 2030-01-01
}

/// The configuration every store is built with: the defaults, which are part of what the
/// suite proves (a 300 s lease, a 1 s abandon delay doubling up to 60 s, 10,000 events).
pub fn suite_config() -> StoreConfig {
    StoreConfig::default()
}

/// A store built for one check, with whatever must live exactly as long as it (a temporary
/// directory, a handle that drops a scratch database); dropped after the store. Or no store
/// at all ([`Fixture::skipped`]): the check is not run.
pub struct Fixture {
    store: Option<Box<dyn Store>>,
    _keep: Option<Box<dyn Any + Send + Sync>>,
}

impl Fixture {
    /// A fixture of just the store.
    pub fn new(store: impl Store) -> Self {
        Self {
            store: Some(Box::new(store)),
            _keep: None,
        }
    }

    /// No store: the backend is not there to test (a database server that does not answer,
    /// where the tests may skip). The check passes without running; whoever builds a skipped
    /// fixture says so, once per test binary.
    pub fn skipped() -> Self {
        Self {
            store: None,
            _keep: None,
        }
    }

    /// Whether there is no store to check.
    pub fn is_skipped(&self) -> bool {
        self.store.is_none()
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store
            .as_deref()
            .expect("checks never run on a skipped fixture")
    }

    /// Keeps `guard` alive until the store has been dropped.
    pub fn keeping(self, guard: impl Any + Send + Sync) -> Self {
        Self {
            _keep: Some(Box::new(guard)),
            ..self
        }
    }
}

impl<S: Store> From<S> for Fixture {
    fn from(store: S) -> Self {
        Self::new(store)
    }
}

/// What a check works on: the store under test and the clock it reads.
pub struct Subject {
    fixture: Fixture,
    clock: Arc<ManualClock>,
    config: StoreConfig,
}

impl Subject {
    /// The store under test.
    pub fn store(&self) -> &dyn Store {
        self.fixture.store()
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The time the store reads now.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves the store's clock forward by `by` and carries out what came due (`run_due`).
    pub async fn advance(&self, by: Duration) -> Outcome {
        let by = chrono::Duration::from_std(by)
            .map_err(|err| ConformanceFailure::new(format!("cannot advance by {by:?}: {err}")))?;
        self.clock.advance(by);
        self.store()
            .run_due()
            .await
            .map(|_| ())
            .map_err(|err| ConformanceFailure::new(format!("run_due failed: {err:?}")))
    }
}

/// A conformance check that did not hold: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConformanceFailure {
    message: String,
}

impl ConformanceFailure {
    /// A failure with a free-form message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// A failure located at `file:line`.
    pub fn at(file: &str, line: u32, message: impl fmt::Display) -> Self {
        Self {
            message: format!("{file}:{line}: {message}"),
        }
    }

    /// The message, starting with the location of the failed expectation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConformanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConformanceFailure {}

/// What a check returns.
pub type Outcome<T = ()> = Result<T, ConformanceFailure>;

/// The future a check returns, boxed so checks can be listed.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One named check of the suite.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// The name of the check's function in [`crate::checks`].
    pub name: &'static str,
    /// Runs the check.
    pub run: for<'a> fn(&'a Subject) -> CheckFuture<'a>,
}

/// Builds a fresh store with `make` (given the suite's clock and configuration), runs `check`
/// on it within [`CHECK_TIMEOUT`], and panics with the failure: the body of every test
/// [`conformance_tests!`](crate::conformance_tests) writes.
pub async fn run_check<F, Fut, T>(
    name: &str,
    check: for<'a> fn(&'a Subject) -> CheckFuture<'a>,
    make: F,
) where
    F: FnOnce(Arc<dyn Clock>, StoreConfig) -> Fut,
    Fut: Future<Output = T>,
    T: Into<Fixture>,
{
    let clock = Arc::new(ManualClock::new(start_time()));
    let config = suite_config();
    let fixture: Fixture = make(clock.clone(), config.clone()).await.into();
    if fixture.is_skipped() {
        return;
    }
    let subject = Subject {
        fixture,
        clock,
        config,
    };
    match tokio::time::timeout(CHECK_TIMEOUT, check(&subject)).await {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("conformance check `{name}` failed: {failure}"),
        Err(_) => panic!("conformance check `{name}` did not finish within {CHECK_TIMEOUT:?}"),
    }
}
