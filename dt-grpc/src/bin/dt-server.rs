//! `dt-server`: the in-memory Durable Task sidecar on loopback (IPv4 and IPv6), by default on
//! the SDKs' default address `localhost:4001`. The options and serving live in `dt_grpc::cli`
//! (shared with the Python package's `dt-server`); this file adds the allocator and the OS
//! signals that stop it.

use clap::Parser;
use dt_grpc::cli::{self, Args};

/// mimalloc rather than the system allocator: the server allocates and frees many small
/// messages, and mimalloc both does that faster and hands freed memory back to the OS, so
/// memory follows the live instances rather than the busiest moment.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when it
/// is first polled, so a signal sent right after the "listening" line still stops the server
/// cleanly instead of killing it.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}

fn main() -> anyhow::Result<()> {
    cli::init_logging();
    let args = Args::parse();
    let runtime = args.runtime()?;
    runtime.block_on(async {
        let shutdown = shutdown_signal()?;
        cli::run(args, shutdown).await?;
        anyhow::Ok(())
    })
}
