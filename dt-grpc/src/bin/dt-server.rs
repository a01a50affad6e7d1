//! `dt-server`: the in-memory Durable Task sidecar on loopback (IPv4 and IPv6), by default on
//! the SDKs' default address `localhost:4001`.

use anyhow::Context;
use clap::Parser;
use dt_store::{MemoryStore, StoreConfig};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;

/// mimalloc rather than the system allocator: the server allocates and frees many small
/// messages, and mimalloc both does that faster and hands freed memory back to the OS, so
/// memory follows the live instances rather than the busiest moment.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A Durable Task sidecar (gRPC) server that keeps everything in memory.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Host to listen on; `localhost` means both 127.0.0.1 and ::1.
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Port to listen on; 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 4001)]
    port: u16,
    /// Most history events one orchestration execution may hold.
    #[arg(long, default_value_t = 10_000)]
    max_history_size: usize,
    /// Seconds a worker may hold a work item without completing it before it is redelivered.
    #[arg(long, default_value_t = 300)]
    lease_seconds: u64,
    /// Wire shape of entity work items: `v2` (entityRequestV2, as the Python reference
    /// sends) or `v1` (entityRequest). The Python and JavaScript workers accept both.
    #[arg(long, default_value = "v2", value_parser = ["v1", "v2"])]
    entity_work_items: String,
    /// Runtime threads serving requests; 1 (the default) is the cheapest per request.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Binds every address of `host` on `port`; with port 0 the first bind picks the port and the
/// others reuse it, so one printed port reaches all of them.
async fn bind(host: &str, port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let addrs: Vec<IpAddr> = if host == "localhost" {
        vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]
    } else {
        tokio::net::lookup_host((host, port))
            .await
            .with_context(|| format!("cannot resolve host {host}"))?
            .map(|a| a.ip())
            .collect()
    };
    let mut listeners = Vec::new();
    let mut chosen = port;
    for (i, ip) in addrs.into_iter().enumerate() {
        match TcpListener::bind(SocketAddr::new(ip, chosen)).await {
            Ok(l) => {
                chosen = l.local_addr()?.port();
                listeners.push(l);
            }
            // A missing IPv6 stack must not stop a server that has IPv4.
            Err(err) if i > 0 => tracing::warn!(%ip, %err, "not listening on this address"),
            Err(err) => return Err(err).with_context(|| format!("cannot listen on {ip}:{chosen}")),
        }
    }
    Ok(listeners)
}

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
    tracing::info!("shutting down");
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    // One thread by default: the store is one mutex, and one thread serves thousands of
    // orchestrations a second at the lowest CPU per orchestration (no cross-thread wake-ups).
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let listeners = bind(&args.host, args.port).await?;
    let port = listeners
        .first()
        .map(|l| l.local_addr())
        .transpose()?
        .map_or(args.port, |a| a.port());
    for l in &listeners {
        tracing::info!(addr = %l.local_addr()?, "listening");
    }
    let store = Arc::new(MemoryStore::new(StoreConfig {
        max_history_size: args.max_history_size,
        lease_duration: std::time::Duration::from_secs(args.lease_seconds),
        entity_work_item_format: if args.entity_work_items == "v1" {
            dt_core::EntityWorkItemFormat::V1
        } else {
            dt_core::EntityWorkItemFormat::V2
        },
        ..StoreConfig::default()
    }));
    // The one line on stdout: scripts and test fixtures read the port from it.
    let mut out = std::io::stdout().lock();
    writeln!(out, "dt-server listening on {}:{}", args.host, port)?;
    out.flush()?;
    drop(out);
    dt_grpc::serve(
        listeners,
        store,
        dt_grpc::ServeOptions::default(),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}
