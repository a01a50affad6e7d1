//! The loop that carries out a store's timeline: sleep until the next deadline or until
//! something new is scheduled, then run what is due.

use crate::api::Store;
use std::future::Future;
use std::sync::Arc;

/// Runs until `shutdown` resolves. Errors from the store are logged and retried on the next
/// wake-up rather than ending the loop: timers must keep firing.
pub async fn run_scheduler(store: Arc<dyn Store>, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let changed = store.schedule_changed();
        tokio::pin!(changed);
        let next = match store.run_due().await {
            Ok(next) => next,
            Err(err) => {
                tracing::error!(%err, "running due timers failed");
                Some(std::time::Duration::from_secs(1))
            }
        };
        let sleep = async {
            match next {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = sleep => {}
            () = &mut changed => {}
            () = &mut shutdown => return,
        }
    }
}
