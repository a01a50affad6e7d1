//! Counting a connection's open calls, so that a connection without any for the idle timeout
//! can be closed.
//!
//! The server's request layer takes a [`CallGuard`] for each call (held until the response
//! body, stream included, is finished or dropped); the connection's reader polls its
//! [`IdleTimer`], which sleeps until the moment the connection would have been idle long
//! enough and re-checks when it wakes. Times are tokio's monotonic clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// One connection's open calls; clones share the count.
#[derive(Clone)]
pub struct ConnActivity {
    shared: Arc<Shared>,
}

struct Shared {
    open_calls: AtomicUsize,
    /// When the last call ended (or the connection opened).
    idle_since: Mutex<Instant>,
}

impl std::fmt::Debug for ConnActivity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnActivity")
            .field("open_calls", &self.open_calls())
            .finish_non_exhaustive()
    }
}

impl ConnActivity {
    /// A fresh connection's activity: no call open, idle from now.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                open_calls: AtomicUsize::new(0),
                idle_since: Mutex::new(Instant::now()),
            }),
        }
    }

    /// Marks a call open until the guard is dropped.
    pub fn call_started(&self) -> CallGuard {
        self.shared.open_calls.fetch_add(1, Ordering::AcqRel);
        CallGuard {
            shared: self.shared.clone(),
        }
    }

    /// Calls open right now.
    pub fn open_calls(&self) -> usize {
        self.shared.open_calls.load(Ordering::Acquire)
    }

    /// When the connection became idle, if no call is open.
    fn idle_since(&self) -> Option<Instant> {
        (self.open_calls() == 0).then(|| {
            *self
                .shared
                .idle_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
        })
    }
}

impl Default for ConnActivity {
    fn default() -> Self {
        Self::new()
    }
}

/// Fires once the connection has had no open call for the idle timeout.
pub struct IdleTimer {
    activity: ConnActivity,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimer {
    /// A timer over `activity`'s calls.
    pub fn new(activity: ConnActivity, timeout: Duration) -> Self {
        let sleep = Box::pin(tokio::time::sleep(timeout));
        Self {
            activity,
            timeout,
            sleep,
        }
    }

    /// Ready once the connection has been without a call for the timeout; otherwise pending,
    /// with the waker registered for the next moment that could be true.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            let deadline = self
                .activity
                .idle_since()
                .map_or(now + self.timeout, |since| since + self.timeout);
            if deadline <= now {
                return Poll::Ready(());
            }
            self.sleep.as_mut().reset(deadline);
        }
    }
}

/// An open call; dropping it ends the call.
#[must_use = "the call counts as open only while the guard lives"]
pub struct CallGuard {
    shared: Arc<Shared>,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        // Stamp before the count reaches zero, so a reader that sees zero sees the new time.
        *self
            .shared
            .idle_since
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.shared.open_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    async fn expired(timer: &mut IdleTimer) {
        poll_fn(|cx| timer.poll_expired(cx)).await;
    }

    fn timer(activity: &ConnActivity) -> IdleTimer {
        IdleTimer::new(activity.clone(), Duration::from_secs(10))
    }

    #[tokio::test(start_paused = true)]
    async fn expires_after_the_timeout_without_calls() {
        let activity = ConnActivity::new();
        let start = Instant::now();
        expired(&mut timer(&activity)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_call_holds_the_connection_and_its_end_restarts_the_clock() {
        let activity = ConnActivity::new();
        let mut timer = timer(&activity);
        let start = Instant::now();
        let call = activity.call_started();
        let waiting = tokio::time::timeout(Duration::from_secs(60), expired(&mut timer)).await;
        assert!(waiting.is_err(), "expired with a call open");
        assert_eq!(activity.open_calls(), 1);
        drop(call);
        expired(&mut timer).await;
        assert_eq!(start.elapsed(), Duration::from_secs(70));
    }
}
