//! `dt-bench`: a load driver for a Durable Task sidecar that speaks the raw gRPC protocol (no
//! SDK in the loop). It runs thin workers and a client in one process, drives one workload,
//! checks every instance's final state exactly and counts every work item its workers receive,
//! shows progress on stderr, and prints one JSON line of results on stdout (for
//! `cargo xtask bench`). It exits non-zero if any result was wrong or missing or any turn or
//! activity was dispatched twice.

// The one JSON result line goes to stdout by design.
#![allow(clippy::print_stdout)]

mod client;
mod conn;
mod ledger;
mod meter;
mod paging;
mod procfs;
mod progress;
mod report;
mod run;
mod scenario;
mod waiters;
mod worker;
mod workload;

use anyhow::Result;
use clap::{Parser, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;
use workload::Shape;

/// Drive a Durable Task sidecar with one workload and report throughput, latency and cost.
#[derive(Parser, Debug)]
#[command(name = "dt-bench")]
struct Args {
    /// The server, e.g. `http://127.0.0.1:4001`; several servers of one task hub (one
    /// store) as a list or by repeating the option: client connections and worker streams are
    /// spread over them in turn.
    #[arg(long, required = true, value_delimiter = ',')]
    address: Vec<String>,
    /// What each instance does (or which scale measurement to take).
    #[arg(long, value_enum, default_value = "hello")]
    workload: Workload,
    /// Number of orchestration instances.
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// `open`: start all at once (throughput); `closed`: one at a time (latency floor).
    #[arg(long, value_enum, default_value = "open")]
    mode: Mode,
    /// Worker streams (GetWorkItems), each on its own connection.
    #[arg(long, default_value_t = 4)]
    streams: usize,
    /// Activities per `fanout` orchestration.
    #[arg(long, default_value_t = 10)]
    fanout: u32,
    /// Activities per `sequence` orchestration.
    #[arg(long, default_value_t = 10)]
    seq_len: u32,
    /// Client connections used to start and check instances.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Calls in flight per client connection when starting and checking instances.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// QueryInstances page size (`paging`).
    #[arg(long, default_value_t = 100)]
    page_size: i32,
    /// Give up when no instance has finished for this many seconds.
    #[arg(long, default_value_t = 60)]
    stall_secs: u64,
    /// The server's process id, to measure its CPU, memory and threads from /proc; with
    /// several servers, each one's (the readings are their sums).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// The PostgreSQL database the servers keep their store in: also measure the CPU of the
    /// local PostgreSQL server's processes that serve it or the whole server (checkpointer,
    /// WAL writer, ...), but not other databases' connections.
    #[arg(long, value_name = "NAME")]
    postgres_database: Option<String>,
    /// Runtime worker threads of the driver (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Label of the progress lines.
    #[arg(long)]
    label: Option<String>,
    /// Self-test: expect a wrong output of the first instance, so that the run must fail with
    /// exactly one wrong result (`cargo xtask test` checks that it does).
    #[arg(long)]
    expect_wrong: bool,
    /// The server is the RPC floor (`dt-bench-floor`), which keeps no state: final states are
    /// not read back, and an instance counts as done when the server accepts its last turn.
    /// Open-loop hello only.
    #[arg(long)]
    floor: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Workload {
    /// One activity.
    Hello,
    /// `--seq-len` chained activities.
    Sequence,
    /// `--fanout` activities at once, then their sum.
    Fanout,
    /// One 0 s timer.
    Timer,
    /// Wait for an event the client raises.
    Events,
    /// Each instance parks on a timer 1 h ahead (read the server's threads and memory).
    TimersPending,
    /// `--n` completed hello instances, then QueryInstances through all of them.
    Paging,
    /// `--n` concurrent WaitForInstanceCompletion calls, then `--streams` workers run them.
    Waiters,
    /// As `waiters`, each instance on a 30-day timer: against `dt-server --time-skipping`,
    /// the wall time of skipping them all.
    SkippedTimers,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    Open,
    Closed,
}

/// The settings every scenario uses.
pub(crate) struct Config {
    pub(crate) addresses: Vec<String>,
    pub(crate) workload: &'static str,
    pub(crate) shape: Shape,
    pub(crate) n: usize,
    pub(crate) mode: Mode,
    pub(crate) streams: usize,
    pub(crate) clients: usize,
    pub(crate) concurrency: usize,
    pub(crate) page_size: i32,
    pub(crate) stall: Duration,
    pub(crate) server_pids: Vec<u32>,
    pub(crate) postgres_database: Option<String>,
    pub(crate) ticks_per_second: u64,
    pub(crate) label: String,
    pub(crate) prefix: String,
    pub(crate) expect_wrong: bool,
    pub(crate) floor: bool,
}

fn config(args: Args) -> Config {
    let (workload, shape) = match args.workload {
        Workload::Hello => ("hello", Shape::Hello),
        Workload::Sequence => ("sequence", Shape::Sequence { len: args.seq_len }),
        Workload::Fanout => ("fanout", Shape::Fanout { width: args.fanout }),
        Workload::Timer => (
            "timer",
            Shape::Timer {
                delay_secs: 0,
                parks: false,
            },
        ),
        Workload::Events => ("events", Shape::Event),
        Workload::TimersPending => (
            "timers-pending",
            Shape::Timer {
                delay_secs: 3600,
                parks: true,
            },
        ),
        Workload::SkippedTimers => (
            "skipped-timers",
            Shape::Timer {
                delay_secs: 30 * 86_400,
                parks: false,
            },
        ),
        Workload::Paging => ("paging", Shape::Hello),
        Workload::Waiters => ("waiters", Shape::Hello),
    };
    let mode = match args.mode {
        Mode::Open => "open",
        Mode::Closed => "closed",
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    Config {
        label: args
            .label
            .unwrap_or_else(|| format!("{workload} {mode} n={}", args.n)),
        prefix: format!("bench-{workload}-{}-{nanos:x}", std::process::id()),
        addresses: args.address,
        workload,
        shape,
        n: args.n,
        mode: args.mode,
        streams: args.streams,
        clients: args.clients,
        concurrency: args.concurrency,
        page_size: args.page_size,
        stall: Duration::from_secs(args.stall_secs),
        server_pids: args.server_pid,
        postgres_database: args.postgres_database,
        ticks_per_second: procfs::ticks_per_second(),
        expect_wrong: args.expect_wrong,
        floor: args.floor,
    }
}

async fn drive(args: Args) -> Result<report::Report> {
    let workload = args.workload;
    if args.floor && !(matches!(workload, Workload::Hello) && args.mode == Mode::Open) {
        anyhow::bail!("--floor runs the open-loop hello workload only");
    }
    let config = config(args);
    match workload {
        Workload::Paging => paging::run(&config).await,
        Workload::Waiters | Workload::SkippedTimers => waiters::run(&config).await,
        _ => Ok(scenario::run(&config).await?.0),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        runtime.worker_threads(threads.max(1));
    }
    let result = runtime
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(drive(args)));
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("dt-bench: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match serde_json::to_string(&report) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("dt-bench: cannot encode the report: {e}");
            return ExitCode::FAILURE;
        }
    }
    if report.ok {
        ExitCode::SUCCESS
    } else {
        for e in &report.error_samples {
            eprintln!("dt-bench: {e}");
        }
        eprintln!(
            "dt-bench: FAILED: {}/{} instances finished, {} wrong, {} duplicate dispatches, {} \
             errors",
            report.completed, report.n, report.wrong, report.duplicates, report.errors
        );
        ExitCode::FAILURE
    }
}
