//! Sharing checks, for stores several servers share (contract M1–M5): two stores opened on
//! the same place (a database), as two dt-servers would, on one manual clock. A check takes
//! a [`Sharing`] and plays clients and workers on either server.
//!
//! ```ignore
//! dt_store_conformance::sharing_tests!(|| {
//!     let db = make_database();
//!     let open = move |clock, config| async move { my_store::open(&url, config, clock) };
//!     // Makes the second server's registration lapse, as if it had died.
//!     let declare_dead = move || lapse_all_but_the_first(&url);
//!     (db, open, declare_dead, Duration::from_secs(3))
//! });
//! ```

use crate::harness::{CHECK_TIMEOUT, Fixture, Outcome, start_time, suite_config};
use dt_store::{Clock, ManualClock, Store, StoreConfig};
use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The future a sharing check returns.
pub type SharingFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// Two servers on one store.
pub struct Sharing {
    a: Fixture,
    b: Fixture,
    clock: Arc<ManualClock>,
    declare_dead: Arc<dyn Fn() + Send + Sync>,
    patience: Duration,
}

impl Sharing {
    /// The first server.
    pub fn a(&self) -> &dyn Store {
        self.a.store()
    }

    /// The second server.
    pub fn b(&self) -> &dyn Store {
        self.b.store()
    }

    /// The time both read now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::TimeDelta) {
        self.clock.advance(by);
    }

    /// Makes the second server's registration lapse, as if it had died (it keeps running,
    /// so what it does after that is checked too).
    pub async fn declare_b_dead(&self) {
        let declare = self.declare_dead.clone();
        let _ = tokio::task::spawn_blocking(move || declare()).await;
    }

    /// Longer than a live server's work must be kept although its workers take long (real
    /// time: registrations are renewed on the store's own clock).
    pub fn patience(&self) -> Duration {
        self.patience
    }
}

/// Builds the place with `make`, opens two stores on it, and runs `check` within
/// [`CHECK_TIMEOUT`]; panics with the failure. The body of every test
/// [`sharing_tests!`](crate::sharing_tests) writes.
pub async fn run_sharing_check<G, F, Fut, T, D>(
    name: &str,
    check: for<'a> fn(&'a Sharing) -> SharingFuture<'a>,
    make: impl FnOnce() -> (G, F, D, Duration),
) where
    G: Any + Send + Sync,
    F: Fn(Arc<dyn Clock>, StoreConfig) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
    T: Into<Fixture>,
    D: Fn() + Send + Sync + 'static,
{
    let (place, open, declare_dead, patience) = make();
    let clock = Arc::new(ManualClock::new(start_time()));
    let a = open(clock.clone(), suite_config()).await.into();
    if a.is_skipped() {
        return;
    }
    let b = open(clock.clone(), suite_config()).await.into();
    let subject = Sharing {
        a,
        b,
        clock,
        declare_dead: Arc::new(declare_dead),
        patience,
    };
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check(&subject)).await;
    drop(subject);
    drop(place);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("sharing check `{name}` failed: {failure}"),
        Err(_) => panic!("sharing check `{name}` did not finish within {CHECK_TIMEOUT:?}"),
    }
}

/// Expands to one `#[tokio::test]` per sharing check, each on a fresh place from `$make`: a
/// closure returning `(guard, opener, declare_dead, patience)`, where the guard keeps the
/// place for the test's length, the opener is a
/// `Fn(Arc<dyn Clock>, StoreConfig) -> impl Future<Output = impl Into<Fixture>>` called once
/// per server, `declare_dead` makes the registration of every server but the first lapse, and
/// `patience` is longer than a registration lasts without renewal.
#[macro_export]
macro_rules! sharing_tests {
    ($make:expr) => {
        $crate::__sharing_test_fns!(
            $make;
            servers_share_one_task_hub,
            work_is_handed_out_once_across_servers,
            timers_and_signals_fire_once_across_servers,
            a_dead_servers_work_is_handed_out_again,
            a_live_servers_work_is_kept,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __sharing_test_fns {
    ($make:expr; $($name:ident,)+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::run_sharing_check(
                    stringify!($name),
                    |t| ::std::boxed::Box::pin($crate::checks::sharing::$name(t)),
                    $make,
                )
                .await;
            }
        )+
    };
}
