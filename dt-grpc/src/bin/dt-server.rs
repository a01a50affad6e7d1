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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

fn main() -> anyhow::Result<()> {
    cli::init_logging();
    let args = Args::parse();
    let runtime = args.runtime()?;
    runtime.block_on(cli::run(args, shutdown_signal()))?;
    Ok(())
}
