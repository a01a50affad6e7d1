//! Restart checks, for durable stores: the same place (a file, a database) opened, used,
//! closed and opened again, on the suite's manual clock. A check takes a [`Restartable`] and
//! calls [`Restartable::restart`] where a server would be killed and started again. The
//! memory store cannot take them: it keeps nothing.
//!
//! ```ignore
//! dt_store_conformance::restart_tests!(|| {
//!     let dir = tempfile::tempdir().expect("a temporary directory");
//!     let path = dir.path().join("store.db");
//!     let open = move |clock, config| {
//!         let path = path.clone();
//!         async move { my_store::open(&path, config, clock).expect("opens") }
//!     };
//!     (dir, open)
//! });
//! ```

use crate::harness::{CHECK_TIMEOUT, Fixture, Outcome, start_time, suite_config};
use dt_store::{Clock, ManualClock, Store, StoreConfig};
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Opens the store at the check's place, again and again.
pub type Opener = Box<
    dyn Fn(Arc<dyn Clock>, StoreConfig) -> Pin<Box<dyn Future<Output = Fixture> + Send>>
        + Send
        + Sync,
>;

/// The future a restart check returns.
pub type RestartFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// What a restart check works on: a store it may close and open again.
pub struct Restartable {
    open: Opener,
    fixture: Option<Fixture>,
    clock: Arc<ManualClock>,
    config: StoreConfig,
}

impl Restartable {
    /// The store open now.
    pub fn store(&self) -> &dyn Store {
        self.fixture
            .as_ref()
            .map(Fixture::store)
            .expect("a store is open outside restart()")
    }

    /// The time the store reads now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Closes the store (as a killed server would leave it: nothing is flushed beyond what
    /// its calls already answered) and opens it again on the same clock.
    pub async fn restart(&mut self) {
        drop(self.fixture.take());
        let clock: Arc<dyn Clock> = self.clock.clone();
        self.fixture = Some((self.open)(clock, self.config.clone()).await);
    }

    /// Moves the clock forward by `by` and carries out what came due.
    pub async fn advance(&self, by: Duration) -> Outcome {
        let by = chrono::Duration::from_std(by).map_err(|err| {
            crate::ConformanceFailure::new(format!("cannot advance by {by:?}: {err}"))
        })?;
        self.clock.advance(by);
        self.store()
            .run_due()
            .await
            .map(|_| ())
            .map_err(|err| crate::ConformanceFailure::new(format!("run_due failed: {err:?}")))
    }
}

/// Builds the place and its opener with `make`, opens the store, and runs `check` within
/// [`CHECK_TIMEOUT`]; panics with the failure. The body of every test
/// [`restart_tests!`](crate::restart_tests) writes.
pub async fn run_restart_check<G, F, Fut, T>(
    name: &str,
    check: for<'a> fn(&'a mut Restartable) -> RestartFuture<'a>,
    make: impl FnOnce() -> (G, F),
) where
    G: Any + Send + Sync,
    F: Fn(Arc<dyn Clock>, StoreConfig) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Into<Fixture>,
{
    let (place, open) = make();
    let open: Opener = Box::new(move |clock, config| {
        let opened = open(clock, config);
        Box::pin(async move { opened.await.into() })
    });
    let clock = Arc::new(ManualClock::new(start_time()));
    let config = suite_config();
    let first = open(clock.clone(), config.clone()).await;
    if first.is_skipped() {
        return;
    }
    let mut subject = Restartable {
        open,
        fixture: Some(first),
        clock,
        config,
    };
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check(&mut subject)).await;
    drop(subject);
    drop(place);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("restart check `{name}` failed: {failure}"),
        Err(_) => panic!("restart check `{name}` did not finish within {CHECK_TIMEOUT:?}"),
    }
}

/// Expands to one `#[tokio::test]` per restart check, each on a fresh place from `$make`: a
/// closure returning `(guard, opener)`, where the guard keeps the place (a temporary
/// directory, a database) for the test's length and the opener is a
/// `Fn(Arc<dyn Clock>, StoreConfig) -> impl Future<Output = impl Into<Fixture>>`.
#[macro_export]
macro_rules! restart_tests {
    ($make:expr) => {
        $crate::__restart_test_fns!(
            $make;
            restart_keeps_what_was_acknowledged,
            restart_hands_out_leased_work_again,
            restart_runs_no_answered_activity_again,
            restart_keeps_a_new_execution,
            restart_repeats_nothing_that_fired,
            restart_keeps_removals_and_locks,
            restart_keeps_a_rewritten_history,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __restart_test_fns {
    ($make:expr; $($name:ident,)+) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::run_restart_check(
                    stringify!($name),
                    |t| ::std::boxed::Box::pin($crate::checks::restart::$name(t)),
                    $make,
                )
                .await;
            }
        )+
    };
}
