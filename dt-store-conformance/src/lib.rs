//! The conformance suite of the storage contract written on [`dt_store::Store`]: every check
//! a store must pass, for the in-memory store today and for the durable stores (each in its
//! own crate) that reuse dt-core.
//!
//! A dev-facing crate: stores list it among their dev-dependencies, so no server binary links
//! it. Each check is a `pub async fn(&Subject) -> Outcome` in [`checks`]; its doc comment names
//! the contract sentences it proves (labels such as **L4** from the contract in dt-store's
//! `api.rs`). The suite plays the worker and the client itself, only through the `Store` trait,
//! and owns the store's time: it hands the store a [`ManualClock`](dt_store::ManualClock) and
//! moves it, so timers, delayed starts and signals, leases and abandon back-offs are proven
//! without sleeping or polling. Checks ask for work with [`dt_store::Store::try_next_work_item`],
//! so "nothing is ready" is an answer rather than a timeout; the waiting path itself has its
//! own checks.
//!
//! # Running the suite against a store
//! One macro call in the store's tests writes one `#[tokio::test]` per check. It takes a
//! factory: given the clock and the [`StoreConfig`](dt_store::StoreConfig) the suite chooses,
//! it builds a fresh, empty store, possibly asynchronously (a temporary database file, a
//! database created for the test), and returns it or a [`Fixture`] that also keeps what must
//! live as long as the store:
//! ```ignore
//! dt_store_conformance::conformance_tests!(|clock, config| async move {
//!     dt_store::MemoryStore::with_clock(config, clock)
//! });
//! ```
//! The calling crate needs tokio (features `macros`, `rt`) among its dev-dependencies.

/// Builds a failure located at the invocation.
macro_rules! failure {
    ($($arg:tt)+) => {
        $crate::harness::ConformanceFailure::at(file!(), line!(), format_args!($($arg)+))
    };
}

/// Fails the check unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !($cond) {
            return Err(failure!($($arg)+));
        }
    };
}

/// Fails the check unless `actual == expected`, showing both.
macro_rules! ensure_eq {
    ($actual:expr, $expected:expr, $($arg:tt)+) => {
        match (&$actual, &$expected) {
            (actual, expected) => {
                if actual != expected {
                    return Err(failure!(
                        "{}: got {:?}, expected {:?}",
                        format_args!($($arg)+),
                        actual,
                        expected
                    ));
                }
            }
        }
    };
}

/// Unwraps a store call's result, failing the check with the call and error otherwise.
macro_rules! call {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(err) => return Err(failure!("`{}` failed: {:?}", stringify!($e), err)),
        }
    };
}

/// Fails the check unless the store call returned the error kind `$kind`.
macro_rules! expect_err {
    ($e:expr, $kind:ident, $($arg:tt)+) => {
        match $e {
            Err(dt_store::StoreError::$kind(_)) => {}
            other => {
                return Err(failure!(
                    "{}: expected {}, got {:?}",
                    format_args!($($arg)+),
                    stringify!($kind),
                    other
                ));
            }
        }
    };
}

pub mod checks;
mod events;
mod harness;
mod play;
mod restart;
mod sharing;

/// What every check module uses.
mod prelude {
    pub(crate) use crate::events::*;
    pub(crate) use crate::harness::{ITEM_WAIT, Outcome, Subject};
    pub(crate) use crate::play::*;
    pub(crate) use chrono::{DateTime, TimeDelta, Utc};
    pub(crate) use dt_core::{
        NewInstance, RuntimeStatus, WorkFilters, from_timestamp, to_timestamp,
    };
    pub(crate) use dt_proto::history_event::EventType;
    pub(crate) use dt_proto::*;
    pub(crate) use dt_store::{
        CreateInstance, PurgeTarget, Store, StoreError, WaitCondition, WorkLimits, WorkerId,
        WorkerOptions,
    };
    pub(crate) use std::collections::HashMap;
    pub(crate) use std::time::Duration;
    pub(crate) use tokio::time::timeout;
}

pub use harness::{
    CHECK_TIMEOUT, Check, CheckFuture, ConformanceFailure, Fixture, ITEM_WAIT, Outcome, Subject,
    run_check, start_time, suite_config,
};
pub use restart::{Opener, RestartFuture, Restartable, run_restart_check};
pub use sharing::{Sharing, SharingFuture, run_sharing_check};

#[doc(hidden)]
#[macro_export]
macro_rules! __check_table {
    ($($name:ident,)+) => {
        /// Every check of the suite, in the order [`conformance_tests!`] writes them.
        pub const CHECKS: &[Check] = &[
            $(Check {
                name: stringify!($name),
                run: |t| Box::pin(checks::$name(t)),
            }),+
        ];
    };
}

__with_checks!(__check_table;);

/// Expands to one `#[tokio::test]` per check, each against a fresh store from the factory
/// `$make`: a closure taking the suite's clock (`Arc<dyn Clock>`) and `StoreConfig` and
/// returning a future of the store (anything `Into<Fixture>`). A failure names the check.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__with_checks!(__conformance_test_fns; $make;);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ($make:expr; $($name:ident,)+) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::run_check(
                    stringify!($name),
                    |t| ::std::boxed::Box::pin($crate::checks::$name(t)),
                    $make,
                )
                .await;
            }
        )+
    };
}
