//! The store's source of time, replaceable in tests and by the time-skipping mode
//! ([`VirtualClock`](crate::VirtualClock)).

use chrono::{DateTime, Utc};
use std::sync::Mutex;

/// Where the current time comes from.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;

    /// Moves the clock forward by `by` if it can be moved (a time-skipping or manual clock);
    /// returns whether it moved. Only a store calls this, from
    /// [`Store::advance_clock_to`](crate::Store::advance_clock_to), so that it can keep its
    /// real-time deadlines (leases, back-offs) in step.
    fn skip(&self, by: chrono::Duration) -> bool {
        let _ = by;
        false
    }
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for deterministic tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn skip(&self, by: chrono::Duration) -> bool {
        self.advance(by);
        true
    }
}
