//! Time skipping: the per-backend controller ([`TimeSkipping`]) that counts demand (open
//! waits for an instance) and holds, keeps the skip budget, and answers the time-control
//! calls; the skipper loop and explicit skips are in `skipper`, the gRPC service in `service`.

mod service;
mod skipper;

pub use service::TimeControlService;
pub use skipper::Step;

use chrono::{DateTime, Utc};
use dt_store::{Clock, MemoryStore, SkipView, Store, StoreConfig, StoreError, SystemClock};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::{Notify, watch};

/// Skips allowed per demand episode (from the moment some client waits until nobody does),
/// so an orchestration that loops on timers forever cannot spin the server.
pub const SKIP_BUDGET: u32 = 10_000;

/// Why a time-control request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TimeSkippingError {
    /// The backend was started without time skipping.
    #[error("time skipping is off (start the server with --time-skipping)")]
    Off,
    /// An unlock without a matching lock.
    #[error("time skipping is not locked: unlock without a matching lock")]
    NotLocked,
    /// A duration that is negative or out of range.
    #[error("{0}")]
    InvalidArgument(String),
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the status call reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeSkippingStatus {
    /// Whether time skipping is on.
    pub enabled: bool,
    /// The backend's current time.
    pub now: DateTime<Utc>,
    /// Open waits for an instance.
    pub demand: u32,
    /// Holds (locks) on automatic skipping.
    pub holds: u32,
    /// Skips left in this demand episode.
    pub budget_left: u32,
    /// Whether the budget ran out in this episode (skipping stopped until nobody waits).
    pub budget_exhausted: bool,
    /// How far the clock is ahead of real time.
    pub skipped: chrono::Duration,
    /// The store's targets and blockers.
    pub view: SkipView,
    /// How many times automatic skipping has looked at the store (a diagnostic: while a
    /// skip is blocked it looks again only after the store changed).
    pub looks: u64,
}

#[derive(Debug)]
struct Counters {
    demand: u32,
    holds: u32,
    budget_left: u32,
    exhausted: bool,
    skipped: chrono::Duration,
    looks: u64,
}

/// The time-skipping state of one backend. With skipping off it still answers the current
/// time (real) and the status, and refuses skips and holds.
pub struct TimeSkipping {
    enabled: bool,
    /// Skips per demand episode ([`SKIP_BUDGET`] unless a test sets it).
    budget: u32,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    counters: Mutex<Counters>,
    /// Woken when demand or holds change, so the skipper re-decides.
    changed: Notify,
    /// `true` while the budget of the current episode is exhausted; waits fail on it.
    exhausted: watch::Sender<bool>,
    /// Serializes skipper steps with explicit skips, so neither moves the clock past the
    /// other's target.
    stepping: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TimeSkipping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeSkipping")
            .field("enabled", &self.enabled)
            .field("counters", &*self.counters())
            .finish()
    }
}

impl TimeSkipping {
    /// Time skipping over `store`, which must read `clock` (a clock that can be moved, e.g.
    /// [`dt_store::VirtualClock`]); `enabled: false` gives the answers of a backend without it.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, enabled: bool) -> Arc<Self> {
        Self::with_budget(store, clock, enabled, SKIP_BUDGET)
    }

    /// [`TimeSkipping::new`] with another skip budget (tests of the budget).
    pub fn with_budget(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        enabled: bool,
        budget: u32,
    ) -> Arc<Self> {
        Arc::new(Self {
            enabled,
            budget,
            store,
            clock,
            counters: Mutex::new(Counters {
                demand: 0,
                holds: 0,
                budget_left: budget,
                exhausted: false,
                skipped: chrono::Duration::zero(),
                looks: 0,
            }),
            changed: Notify::new(),
            exhausted: watch::channel(false).0,
            stepping: tokio::sync::Mutex::new(()),
        })
    }

    /// Skipping off over a store on the system clock.
    pub fn off(store: Arc<dyn Store>) -> Arc<Self> {
        Self::new(store, Arc::new(SystemClock), false)
    }

    /// A memory store on a clock fit for the mode (a [`dt_store::VirtualClock`] when
    /// `enabled`, the system clock otherwise) with its controller.
    pub fn memory_store(config: StoreConfig, enabled: bool) -> (Arc<MemoryStore>, Arc<Self>) {
        let clock = Self::clock(enabled);
        let store = Arc::new(MemoryStore::with_clock(config, clock.clone()));
        let control = Self::new(store.clone(), clock, enabled);
        (store, control)
    }

    /// The store `spec` names, on a clock fit for the mode, with its controller.
    pub fn open_store(
        spec: &crate::StoreSpec,
        config: StoreConfig,
        enabled: bool,
    ) -> Result<(Arc<MemoryStore>, Arc<Self>), crate::OpenStoreError> {
        let clock = Self::clock(enabled);
        let store = spec.open(config, clock.clone())?;
        let control = Self::new(store.clone(), clock, enabled);
        Ok((store, control))
    }

    fn clock(enabled: bool) -> Arc<dyn Clock> {
        if enabled {
            Arc::new(dt_store::VirtualClock::new())
        } else {
            Arc::new(SystemClock)
        }
    }

    /// Whether time skipping is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The backend's current time (virtual when skipping is on).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// What automatic skipping sees now.
    pub async fn status(&self) -> Result<TimeSkippingStatus, TimeSkippingError> {
        let view = self.store.skip_view().await?;
        let c = self.counters();
        Ok(TimeSkippingStatus {
            enabled: self.enabled,
            now: self.clock.now(),
            demand: c.demand,
            holds: c.holds,
            budget_left: c.budget_left,
            budget_exhausted: c.exhausted,
            skipped: c.skipped,
            view,
            looks: c.looks,
        })
    }

    /// Holds automatic skipping until a matching [`TimeSkipping::unlock`].
    pub fn lock(&self) -> Result<(), TimeSkippingError> {
        if !self.enabled {
            return Err(TimeSkippingError::Off);
        }
        self.counters().holds += 1;
        self.changed.notify_one();
        Ok(())
    }

    /// Releases one hold; `NotLocked` when none is held.
    pub fn unlock(&self) -> Result<(), TimeSkippingError> {
        if !self.enabled {
            return Err(TimeSkippingError::Off);
        }
        {
            let mut c = self.counters();
            c.holds = c.holds.checked_sub(1).ok_or(TimeSkippingError::NotLocked)?;
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Counts an open wait for an instance as demand until the guard drops. The first wait
    /// of an episode refills the budget.
    pub fn demand(self: &Arc<Self>) -> DemandGuard {
        {
            let mut c = self.counters();
            if c.demand == 0 {
                c.budget_left = self.budget;
                c.exhausted = false;
                self.exhausted.send_replace(false);
            }
            c.demand += 1;
        }
        self.changed.notify_one();
        DemandGuard(self.clone())
    }

    /// Resolves when the skip budget of the current episode runs out (never with skipping off).
    pub async fn budget_exhausted(&self) {
        let mut rx = self.exhausted.subscribe();
        let _ = rx.wait_for(|exhausted| *exhausted).await;
        if !*rx.borrow() {
            // The sender is gone (cannot happen while `self` lives): never resolve.
            std::future::pending::<()>().await;
        }
    }

    fn counters(&self) -> MutexGuard<'_, Counters> {
        // Plain counters: valid whatever a panicking holder was doing.
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An open wait for an instance: demand for automatic skipping while it lives.
pub struct DemandGuard(Arc<TimeSkipping>);

impl Drop for DemandGuard {
    fn drop(&mut self) {
        {
            let mut c = self.0.counters();
            c.demand = c.demand.saturating_sub(1);
        }
        self.0.changed.notify_one();
    }
}
