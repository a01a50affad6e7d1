//! The time-skipping clock: real time plus an offset that only grows, so virtual time runs at
//! real speed until a skip moves it forward, and never goes back.

use crate::clock::Clock;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

/// Real time plus a skipped offset. The base is monotonic (the wall time at creation plus
/// the time elapsed since, on [`Instant`]), so a system clock adjustment cannot move it back;
/// tests give a [`ManualClock`](crate::ManualClock) as base instead.
pub struct VirtualClock {
    base: Base,
    /// Nanoseconds skipped so far; only ever grows (2^63 ns is 292 years).
    offset_nanos: AtomicI64,
}

enum Base {
    Monotonic {
        wall: DateTime<Utc>,
        started: Instant,
    },
    Clock(Arc<dyn Clock>),
}

impl VirtualClock {
    /// A clock at the current wall time, running at real speed.
    pub fn new() -> Self {
        Self {
            base: Base::Monotonic {
                wall: Utc::now(),
                started: Instant::now(),
            },
            offset_nanos: AtomicI64::new(0),
        }
    }

    /// A clock that runs as `base` does, plus what was skipped (tests: a manual base).
    pub fn over(base: Arc<dyn Clock>) -> Self {
        Self {
            base: Base::Clock(base),
            offset_nanos: AtomicI64::new(0),
        }
    }

    /// How far the clock has been skipped ahead of real time.
    pub fn skipped(&self) -> chrono::Duration {
        chrono::Duration::nanoseconds(self.offset_nanos.load(Ordering::Acquire))
    }

    fn real_now(&self) -> DateTime<Utc> {
        match &self.base {
            Base::Monotonic { wall, started } => {
                *wall + chrono::Duration::from_std(started.elapsed()).unwrap_or_default()
            }
            Base::Clock(clock) => clock.now(),
        }
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualClock")
            .field("skipped", &self.skipped())
            .finish()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.real_now() + self.skipped()
    }

    /// Only forward: a zero or negative `by` leaves the clock alone.
    fn skip(&self, by: chrono::Duration) -> bool {
        let Some(nanos) = by.num_nanoseconds().filter(|n| *n > 0) else {
            return false;
        };
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |o| {
                Some(o.saturating_add(nanos))
            });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    #[test]
    fn skips_add_to_the_base_and_never_go_back() {
        let start = DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let base = Arc::new(ManualClock::new(start));
        let clock = VirtualClock::over(base.clone());
        assert_eq!(clock.now(), start);
        assert!(clock.skip(chrono::Duration::days(30)));
        assert!(!clock.skip(chrono::Duration::seconds(-5)));
        assert!(!clock.skip(chrono::Duration::zero()));
        base.advance(chrono::Duration::seconds(1));
        assert_eq!(
            clock.now(),
            start + chrono::Duration::days(30) + chrono::Duration::seconds(1)
        );
        assert_eq!(clock.skipped(), chrono::Duration::days(30));
    }

    #[test]
    fn the_monotonic_base_starts_at_the_wall_clock() {
        let before = Utc::now();
        let clock = VirtualClock::new();
        let now = clock.now();
        assert!(now >= before && now <= Utc::now(), "{before} {now}");
    }
}
