//! `dt-bench-floor`: the RPC floor of `cargo xtask bench`. A sidecar that answers each RPC of a
//! hello orchestration with a canned reply and keeps no state (see `service.rs`), served with
//! `dt-server`'s transport settings, runtime and allocator, so that the same driver against it
//! measures what the gRPC and HTTP/2 exchange alone costs. Our server's CPU per hello
//! orchestration divided by the floor's is the headroom left above the protocol itself.

mod items;
mod service;

use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use tokio::net::TcpListener;

/// The same allocator as `dt-server`'s.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A stateless fake sidecar with canned replies for the hello orchestration (a bench floor).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port on 127.0.0.1; 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Self-test fault: hand out every instance's first turn twice, so that the driver must
    /// count duplicate dispatches and fail.
    #[arg(long)]
    duplicate_first_turn: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One thread, as `dt-server` runs by default.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let port = listener.local_addr()?.port();
    // The one line on stdout, as `dt-server` prints it: the bench reads the port from it.
    let mut out = std::io::stdout().lock();
    writeln!(out, "dt-bench-floor listening on 127.0.0.1:{port}")?;
    out.flush()?;
    drop(out);
    let service = service::Floor::new(args.duplicate_first_turn);
    let options = dt_grpc::ServeOptions::default();
    dt_grpc::serve_service(vec![listener], service, &options, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
