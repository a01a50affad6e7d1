//! Wake-ups from the other servers: a session of its own LISTENs on [`CHANNEL`], which every
//! turn that changed something NOTIFYs when it commits, and tells the engine to catch up.
//! After every (re)connection it tells the engine too, since notifications sent while it
//! was away are lost; the engine's regular turns are the fallback when this session is down.

use crate::{PgOptions, PgUrl, connect};
use postgres::fallible_iterator::FallibleIterator;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The channel turns notify.
pub(crate) const CHANNEL: &str = "dt_changed";

/// How often the listener looks up from waiting (to stop, or to notice a dead session).
const TICK: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The listening thread; stops when dropped.
pub(crate) struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub(crate) fn spawn(
        url: PgUrl,
        options: PgOptions,
        wake: Arc<dyn Fn(u64) + Send + Sync>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("dt-postgres-listen".to_owned())
            .spawn(move || listen(&url, &options, &*wake, &stopping))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn listen(url: &PgUrl, options: &PgOptions, wake: &dyn Fn(u64), stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(100);
    while !stop.load(Ordering::SeqCst) {
        let mut client = match connect::connect_as(url, options, "dt-server listener")
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.batch_execute(&format!("LISTEN {CHANNEL}"))
                    .map(|()| c)
                    .map_err(|e| connect::describe(&e))
            }) {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(%err, retry_in = ?backoff, "listening for other servers' changes failed");
                pause(backoff, stop);
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        // Whatever was announced while this session was away is unknown.
        wake(u64::MAX);
        while !stop.load(Ordering::SeqCst) {
            let (heard, lost) = {
                let mut notifications = client.notifications();
                let position = |n: postgres::Notification| n.payload().parse().unwrap_or(u64::MAX);
                let (mut heard, lost) = match notifications.timeout_iter(TICK).next() {
                    Ok(Some(n)) => (Some(position(n)), false),
                    Ok(None) => (None, false),
                    Err(_) => (None, true),
                };
                // Several notifications make one catch-up.
                while let Ok(Some(n)) = notifications.iter().next() {
                    heard = heard.max(Some(position(n)));
                }
                (heard, lost)
            };
            if let Some(position) = heard {
                wake(position);
            }
            if lost || client.is_closed() {
                tracing::warn!("the listening session to PostgreSQL is lost; reconnecting");
                break;
            }
        }
    }
}

/// Sleeps `wait`, looking up at every tick to stop.
fn pause(wait: Duration, stop: &AtomicBool) {
    let until = std::time::Instant::now() + wait;
    while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < until {
        std::thread::sleep(TICK.min(until - std::time::Instant::now()));
    }
}
