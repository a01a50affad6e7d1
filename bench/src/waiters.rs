//! The `waiters` measurement: start `n` instances with no worker connected, hold one
//! WaitForInstanceCompletion per instance open at once (spread over connections of 100
//! calls each), then connect the workers and time until every wait has returned the right
//! final state.

use crate::conn;
use crate::meter::Meter;
use crate::report::Report;
use crate::run::Run;
use crate::{Config, client, progress, worker};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;

/// Calls per connection, below HTTP/2 servers' usual limit on concurrent streams.
const WAITS_PER_CONNECTION: usize = 100;

pub(crate) async fn run(config: &Config) -> Result<Report> {
    let run = Arc::new(Run::new(config, true));
    let clients = conn::connect_many(&config.addresses, config.clients).await?;
    client::start_all(&clients, &run, config.concurrency).await;

    let connections =
        conn::connect_many(&config.addresses, config.n.div_ceil(WAITS_PER_CONNECTION)).await?;
    let mut waits = Vec::with_capacity(config.n);
    for i in 0..config.n {
        let mut c = connections[i / WAITS_PER_CONNECTION % connections.len()].clone();
        let run = Arc::clone(&run);
        waits.push(tokio::spawn(async move {
            match client::wait_completion(&mut c, &run.id(i)).await {
                Ok(state) => {
                    run.mark_finished(i);
                    client::check(&run, i, Some(&state));
                }
                Err(e) => run.error(e),
            }
        }));
    }
    // Let the waits reach the server before any instance can complete.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let progress = progress::spawn(config.label.clone(), Arc::clone(&run));
    let meter = Meter::start(config)?;
    for i in 0..config.n {
        run.mark_started(i);
    }
    let workers = worker::spawn_all(
        conn::connect_many(&config.addresses, config.streams).await?,
        &run,
    );
    for wait in waits {
        if let Err(e) = wait.await {
            run.error(format!("a waiter task failed: {e}"));
        }
    }
    let usage = meter.stop()?;
    progress.abort();
    let mut report = Report::new(config.workload, "open", config.streams, &run, &usage);
    report.extra.insert("waiters".into(), config.n as f64);
    report.finish(&run);
    for w in workers {
        w.abort();
    }
    eprintln!(
        "[{}] {}/{} waits returned in {:.0} ms, {} errors",
        config.label, report.completed, run.n, report.wall_ms, report.errors
    );
    Ok(report)
}
