//! The per-instance ledger of what the workers received and asked for: every work item
//! dispatched to them (an orchestrator turn by the history it starts from, an activity by its
//! task id), so that a second dispatch of the same turn or activity is counted as a duplicate,
//! and the fire time of the timer each instance's orchestration asked for, which the timer
//! workload's output is checked against.

use prost_types::Timestamp;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One work item as the ledger tells dispatches apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Dispatch {
    /// An orchestrator work item whose past holds `history` events: each committed turn adds
    /// events, so only a redelivery of the same turn has the same count.
    Turn { history: usize },
    /// An activity work item for task `task` of the instance.
    Activity { task: i32 },
}

impl std::fmt::Display for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dispatch::Turn { history } => write!(f, "the turn after {history} history events"),
            Dispatch::Activity { task } => write!(f, "activity task {task}"),
        }
    }
}

#[derive(Default)]
struct Entry {
    /// Sorted, without repeats.
    dispatches: Vec<Dispatch>,
    timer: Option<Timestamp>,
}

/// The ledger of a run of `n` instances.
pub(crate) struct Ledger {
    entries: Vec<Mutex<Entry>>,
    work_items: AtomicUsize,
    duplicates: AtomicUsize,
}

impl Ledger {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            entries: (0..n).map(|_| Mutex::default()).collect(),
            work_items: AtomicUsize::new(0),
            duplicates: AtomicUsize::new(0),
        }
    }

    /// Records that `dispatch` of instance `i` reached a worker; false if it had before.
    pub(crate) fn dispatched(&self, i: usize, dispatch: Dispatch) -> bool {
        self.work_items.fetch_add(1, Ordering::Relaxed);
        let first = self.with(i, |e| match e.dispatches.binary_search(&dispatch) {
            Ok(_) => false,
            Err(at) => {
                e.dispatches.insert(at, dispatch);
                true
            }
        });
        if first == Some(false) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        first != Some(false)
    }

    /// Records the fire time of the timer instance `i`'s orchestration asked for.
    pub(crate) fn timer_requested(&self, i: usize, fire_at: Timestamp) {
        self.with(i, |e| e.timer = Some(fire_at));
    }

    /// The fire time instance `i`'s orchestration asked for, if it asked.
    pub(crate) fn timer(&self, i: usize) -> Option<Timestamp> {
        self.with(i, |e| e.timer).flatten()
    }

    /// Work items received, duplicates included.
    pub(crate) fn work_items(&self) -> usize {
        self.work_items.load(Ordering::Relaxed)
    }

    /// Work items received again for a turn or activity that had been dispatched before.
    pub(crate) fn duplicates(&self) -> usize {
        self.duplicates.load(Ordering::Relaxed)
    }

    fn with<T>(&self, i: usize, f: impl FnOnce(&mut Entry) -> T) -> Option<T> {
        let mut entry = self.entries.get(i)?.lock().ok()?;
        Some(f(&mut entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_dispatch_of_the_same_turn_or_activity_is_a_duplicate() {
        let ledger = Ledger::new(2);
        assert!(ledger.dispatched(0, Dispatch::Turn { history: 0 }));
        assert!(ledger.dispatched(0, Dispatch::Activity { task: 1 }));
        assert!(ledger.dispatched(0, Dispatch::Turn { history: 4 }));
        // The same keys on another instance are not duplicates.
        assert!(ledger.dispatched(1, Dispatch::Turn { history: 0 }));
        assert!(ledger.dispatched(1, Dispatch::Activity { task: 1 }));
        assert_eq!(ledger.duplicates(), 0);

        assert!(!ledger.dispatched(0, Dispatch::Activity { task: 1 }));
        assert!(!ledger.dispatched(0, Dispatch::Turn { history: 0 }));
        assert!(!ledger.dispatched(0, Dispatch::Turn { history: 0 }));
        assert_eq!(ledger.duplicates(), 3);
        assert_eq!(ledger.work_items(), 8);
    }

    #[test]
    fn keeps_the_requested_timer_per_instance() {
        let ledger = Ledger::new(2);
        let at = Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        };
        ledger.timer_requested(1, at);
        assert_eq!(ledger.timer(0), None);
        assert_eq!(ledger.timer(1), Some(at));
        assert_eq!(ledger.timer(7), None);
    }
}
