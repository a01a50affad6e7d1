//! Progress on stderr while a run goes: once a second, how many instances are done out of
//! how many, the rate over the last second, and the error count.

use crate::run::Run;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Prints `[label] done/n …` every second until aborted.
pub(crate) fn spawn(label: String, run: Arc<Run>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut last = run.done();
        loop {
            tick.tick().await;
            let done = run.done();
            eprintln!(
                "[{label}] {done}/{} done, {}/s, {} errors",
                run.n,
                done.saturating_sub(last),
                run.error_count()
            );
            last = done;
        }
    })
}
