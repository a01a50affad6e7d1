//! The standard run: connect the workers, start the instances (open or closed loop), measure
//! until all are done, disconnect the workers, then check every instance (open loop; the
//! closed loop checks each as it completes).

use crate::conn::{self, Client};
use crate::meter::Meter;
use crate::report::Report;
use crate::run::Run;
use crate::{Config, Mode, client, progress, worker};
use anyhow::Result;
use std::sync::Arc;

/// Runs the configured workload; returns the report, the run and the client connections (for
/// scenarios that go on with the same instances).
pub(crate) async fn run(config: &Config) -> Result<(Report, Arc<Run>, Vec<Client>)> {
    let closed = config.mode == Mode::Closed;
    let run = Arc::new(Run::new(
        config.shape,
        config.n,
        config.prefix.clone(),
        closed,
    ));
    let mut clients = conn::connect_many(&config.address, config.clients).await?;
    let workers = worker::spawn_all(
        conn::connect_many(&config.address, config.streams).await?,
        &run,
    );
    let progress = progress::spawn(config.label.clone(), Arc::clone(&run));

    let meter = Meter::start(config.server_pid, config.ticks_per_second)?;
    if closed {
        if let Some(client) = clients.first_mut() {
            client::closed_loop(client, &run).await;
        }
    } else {
        client::start_all(&clients, &run, config.concurrency).await;
        client::wait_done(&run, config.stall).await;
    }
    let usage = meter.stop()?;
    progress.abort();
    for w in workers {
        w.abort();
    }

    let mode = if closed { "closed" } else { "open" };
    let mut report = Report::new(config.workload, mode, config.streams, &run, &usage);
    if !closed {
        client::verify_all(&clients, &run, config.concurrency).await;
    }
    if let Some(client) = clients.first_mut() {
        report.history_events = client::history_len(client, &run, 0).await;
    }
    report.finish(&run);
    eprintln!(
        "[{}] {}/{} done in {:.0} ms, {} errors",
        config.label, report.completed, run.n, report.wall_ms, report.errors
    );
    Ok((report, run, clients))
}
