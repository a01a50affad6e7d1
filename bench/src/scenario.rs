//! The standard run: connect the workers, start the instances (open or closed loop), measure
//! until all are done, check every instance (open loop; the closed loop checks each as it
//! completes), and only then disconnect the workers, so that a late or repeated dispatch
//! during the check still reaches the ledger.

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
    let run = Arc::new(Run::new(config, closed));
    let mut clients = conn::connect_many(&config.addresses, config.clients).await?;
    let workers = worker::spawn_all(
        conn::connect_many(&config.addresses, config.streams).await?,
        &run,
    );
    let progress = progress::spawn(config.label.clone(), Arc::clone(&run));

    let meter = Meter::start(config)?;
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

    let mode = if closed { "closed" } else { "open" };
    let mut report = Report::new(config.workload, mode, config.streams, &run, &usage);
    // The floor keeps no state to read back.
    report.verified = !config.floor;
    if report.verified {
        if !closed {
            client::verify_all(&clients, &run, config.concurrency).await;
        }
        if let Some(client) = clients.first_mut() {
            report.history_events = client::history_len(client, &run, 0).await;
        }
    }
    report.finish(&run);
    for w in workers {
        w.abort();
    }
    eprintln!(
        "[{}] {}/{} done in {:.0} ms, {} work items ({} duplicates), {} errors",
        config.label,
        report.completed,
        run.n,
        report.wall_ms,
        report.work_items,
        report.duplicates,
        report.errors
    );
    Ok((report, run, clients))
}
