//! The skipper: automatic skips (one [`TimeSkipping::step`] at a time, looped by
//! [`TimeSkipping::run`]) and explicit ones ([`TimeSkipping::skip`]).
//!
//! The rule: the clock jumps to the store's next target only while some client waits for an
//! instance (demand), nobody holds skipping, the budget is not spent, and nothing is queued,
//! leased or backing off. While demand exists and skipping is blocked (or nothing is
//! scheduled) the loop sleeps until the store's activity counter moves (`Store::activity`,
//! marked seen before each look, so no change is missed), then looks again at most every
//! [`POLL`]; with no demand it sleeps until demand or holds change.

use super::{TimeSkipping, TimeSkippingError};
use chrono::{DateTime, Utc};
use dt_store::{SkipView, StoreError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The shortest time between two looks at a store that keeps changing while a skip is
/// blocked: a busy store wakes the skipper at most this often.
pub(crate) const POLL: Duration = Duration::from_millis(1);

/// How long an explicit skip lets each fired target's consequences settle (the store idle
/// again) before it steps to the next; a skip with no worker connected waits this per target.
const SETTLE: Duration = Duration::from_secs(2);

/// What the automatic loop waits for after a look.
enum Wait {
    /// The store's activity counter to move (then [`POLL`] more).
    StoreChange,
    /// Demand or holds to change.
    Demand,
    /// A fixed time (the store could not be read).
    For(Duration),
}

/// What one look at the state decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Time skipping is off.
    Off,
    /// Nobody waits for an instance.
    NoDemand,
    /// Somebody holds automatic skipping.
    Held,
    /// The budget of this demand episode is spent.
    BudgetExhausted,
    /// Work is queued, leased or backing off.
    Blocked,
    /// Idle, but nothing is scheduled.
    NoTarget,
    /// The clock jumped to this target and what was due ran.
    Skipped(DateTime<Utc>),
    /// The target was already due: it ran without moving the clock.
    RanDue(DateTime<Utc>),
}

impl TimeSkipping {
    /// Looks once and skips if the rule allows (see the module doc).
    pub async fn step(&self) -> Result<Step, StoreError> {
        if !self.enabled {
            return Ok(Step::Off);
        }
        let _stepping = self.stepping.lock().await;
        {
            let c = self.counters();
            if c.demand == 0 {
                return Ok(Step::NoDemand);
            }
            if c.holds > 0 {
                return Ok(Step::Held);
            }
            if c.exhausted {
                return Ok(Step::BudgetExhausted);
            }
        }
        self.counters().looks += 1;
        let view = self.store.skip_view().await?;
        if !view.is_idle() {
            return Ok(Step::Blocked);
        }
        let Some(target) = view.next_target else {
            return Ok(Step::NoTarget);
        };
        if !self.take_from_budget() {
            return Ok(Step::BudgetExhausted);
        }
        let moved = self.advance_to(target).await?;
        self.store.run_due().await?;
        if moved {
            Ok(Step::Skipped(target))
        } else {
            // Not a skip: the scheduler was about to run it anyway.
            self.counters().budget_left += 1;
            Ok(Step::RanDue(target))
        }
    }

    /// Skips automatically until `shutdown` resolves; returns at once with skipping off.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        if !self.enabled {
            return;
        }
        tokio::pin!(shutdown);
        let mut activity = self.store.activity();
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            // Seen before the look: a change made during it moves the counter again.
            activity.borrow_and_update();
            let wait = match self.step().await {
                Ok(Step::Skipped(_) | Step::RanDue(_)) => continue,
                Ok(Step::Blocked | Step::NoTarget) => Wait::StoreChange,
                Ok(Step::Off | Step::NoDemand | Step::Held | Step::BudgetExhausted) => Wait::Demand,
                Err(err) => {
                    tracing::error!(%err, "time skipping could not read the store");
                    Wait::For(Duration::from_millis(100))
                }
            };
            let sleep = async {
                match wait {
                    Wait::StoreChange => {
                        // A store without a writer left would end the wait at once: then poll.
                        if activity.changed().await.is_err() {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        tokio::time::sleep(POLL).await;
                    }
                    Wait::For(d) => tokio::time::sleep(d).await,
                    Wait::Demand => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                () = &mut changed => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// Moves the clock forward by `by`: steps to each target due within it in due order,
    /// letting each one's consequences settle (up to [`SETTLE`]), then sets the clock to
    /// exactly `by` after the time the call began. Automatic skipping is held meanwhile.
    /// Returns the time after and how many targets were stepped to.
    pub async fn skip(&self, by: Duration) -> Result<(DateTime<Utc>, u32), TimeSkippingError> {
        if !self.enabled {
            return Err(TimeSkippingError::Off);
        }
        let by = chrono::Duration::from_std(by)
            .map_err(|_| TimeSkippingError::InvalidArgument(format!("cannot skip {by:?}")))?;
        self.lock()?;
        let _hold = Unlock(self);
        // Waits for an automatic step in progress; later ones see the hold.
        drop(self.stepping.lock().await);
        let end =
            self.clock.now().checked_add_signed(by).ok_or_else(|| {
                TimeSkippingError::InvalidArgument("skip out of range".to_owned())
            })?;
        let mut fired = 0;
        loop {
            let view = self.store.skip_view().await?;
            match view.next_target {
                Some(target) if target <= end && fired < self.budget => {
                    self.advance_to(target).await?;
                    self.store.run_due().await?;
                    fired += 1;
                    self.settle().await?;
                }
                Some(target) if target <= end => {
                    tracing::warn!(
                        budget = self.budget,
                        "skip: budget of targets reached; firing the rest at once"
                    );
                    break;
                }
                _ => break,
            }
        }
        self.advance_to(end).await?;
        self.store.run_due().await?;
        Ok((self.clock.now(), fired))
    }

    /// Waits until the store is idle, for at most [`SETTLE`], looking again after each change.
    async fn settle(&self) -> Result<SkipView, StoreError> {
        let deadline = tokio::time::Instant::now() + SETTLE;
        let mut activity = self.store.activity();
        loop {
            activity.borrow_and_update();
            let view = self.store.skip_view().await?;
            if view.is_idle() || tokio::time::Instant::now() >= deadline {
                return Ok(view);
            }
            tokio::select! {
                changed = activity.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(POLL).await;
                    }
                }
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    async fn advance_to(&self, target: DateTime<Utc>) -> Result<bool, StoreError> {
        let before = self.clock.now();
        let moved = self.store.advance_clock_to(target).await?;
        if moved {
            self.counters().skipped += (target - before).max(chrono::Duration::zero());
        }
        Ok(moved)
    }

    /// Takes one skip from the budget; on the last one, stops skipping for this episode and
    /// says so (a warning, the status, and the waits, which fail).
    fn take_from_budget(&self) -> bool {
        let mut c = self.counters();
        if c.budget_left == 0 {
            if !c.exhausted {
                c.exhausted = true;
                tracing::warn!(
                    budget = self.budget,
                    "time skipping stopped: the skip budget of this wait is spent (an \
                     orchestration looping on timers?); waits for instances fail with \
                     FAILED_PRECONDITION"
                );
                self.exhausted.send_replace(true);
            }
            return false;
        }
        c.budget_left -= 1;
        true
    }
}

/// Releases the hold an explicit skip took, however the skip ends.
struct Unlock<'a>(&'a TimeSkipping);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}
