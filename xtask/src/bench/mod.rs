//! `cargo xtask bench`: builds `dt-server`, the `dt-bench` driver and the `dt-bench-floor` RPC
//! floor in release, runs the same workloads against our server and the Python reference
//! backend (each started afresh per workload), some of them also on ours over SQLite and over
//! PostgreSQL (one server, and two sharing one database), and open-loop hello against the
//! floor, then the scale measurements on ours, and prints the tables. It fails if any run had
//! a wrong or missing result or a duplicate dispatch; timings never fail it. `tiny` is the
//! test pipeline's smoke run of the same code at a tiny size, followed by the bench's
//! self-tests.

mod deploy;
mod driver;
pub(crate) mod lifecycle;
mod machine;
mod plan;
mod selftest;
pub(crate) mod server;
mod table;

use crate::{cmd, postgres, venv};
use anyhow::{Result, bail};
use deploy::Deployment;
use plan::{Case, Size};
use server::{Backend, Launcher};
use std::path::{Path, PathBuf};
use std::time::Instant;
use table::Row;

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// Small sizes (finishes in under 2 minutes once built).
    #[arg(long)]
    quick: bool,
    /// Skip the Python reference backend.
    #[arg(long)]
    no_reference: bool,
    /// Skip the scale measurements.
    #[arg(long)]
    no_scale: bool,
    /// Skip the Python test backends' create/start/stop and reset() (durabletask_rs vs the SDK's).
    #[arg(long)]
    no_python_backends: bool,
    /// Run only the workloads whose key, or on the backends whose name, starts with this
    /// (e.g. `scale-sequence` for sequence(10), (100) and (1000); `ours-pg` for the rows on
    /// PostgreSQL); implies --no-python-backends.
    #[arg(long, value_name = "PREFIX")]
    only: Option<String>,
    /// Measure this `dt-server` instead of the release build of the tree (e.g. one built from
    /// another commit, for a before/after comparison with the same driver).
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
}

impl BenchArgs {
    fn wants(&self, case: &Case, backend: Backend) -> bool {
        self.only
            .as_deref()
            .is_none_or(|prefix| case.key.starts_with(prefix) || backend.name().starts_with(prefix))
    }
}

/// The PostgreSQL rows' backends.
const POSTGRES: [Backend; 2] = [Backend::OursPostgres, Backend::OursPostgresPair];

/// Runs `cases` on the PostgreSQL backends, or says in one line why not; `Ok(None)` if they ran.
fn measure_postgres(
    launcher: &Launcher,
    bench: &Path,
    cases: &[(Case, Backend)],
    rows: &mut Vec<Row>,
) -> Result<Option<String>> {
    if cases.is_empty() {
        return Ok(None);
    }
    if !postgres::answers()? {
        let note = "SKIPPED the ours-pg rows: no PostgreSQL answers psql at DT_TEST_POSTGRES_URL \
                    (set DT_TEST_POSTGRES_URL)"
            .to_owned();
        println!("{note}");
        return Ok(Some(note));
    }
    for (case, backend) in cases {
        rows.push(measure(launcher, bench, case, *backend));
    }
    Ok(None)
}

/// Runs the bench and prints the tables (also written to `target/xtask/bench/results.md`).
pub(crate) fn run(args: &BenchArgs) -> Result<()> {
    let root = cmd::root()?;
    let target = cmd::target_dir(&root);
    cmd::run(&mut cmd::cargo(
        &root,
        &[
            "build",
            "--release",
            "--bin",
            "dt-server",
            "--bin",
            "dt-bench",
            "--bin",
            "dt-bench-floor",
        ],
    ))?;
    let reference = if args.no_reference {
        None
    } else {
        Some((
            venv::ensure(&root)?,
            root.join("xtask").join("reference_backend.py"),
        ))
    };
    let release = target.join("release");
    let launcher = Launcher {
        server: args
            .server
            .clone()
            .unwrap_or_else(|| release.join("dt-server")),
        reference,
        floor: Some(release.join("dt-bench-floor")),
        log_dir: server::log_dir(&target)?,
    };
    let size = if args.quick { Size::Quick } else { Size::Full };
    let started = Instant::now();
    let bench = release.join("dt-bench");

    let cases = plan::side_by_side(size);
    let mut backends = vec![Backend::Ours];
    if !args.no_reference {
        backends.push(Backend::Reference);
    }
    let mut rows = Vec::new();
    for case in &cases {
        for &backend in backends.iter().filter(|&&b| args.wants(case, b)) {
            rows.push(measure(&launcher, &bench, case, backend));
        }
    }
    for case in plan::durable(size) {
        if args.wants(&case, Backend::OursSqlite) {
            rows.push(measure(&launcher, &bench, &case, Backend::OursSqlite));
        }
    }
    let on_postgres: Vec<(Case, Backend)> = POSTGRES
        .iter()
        .flat_map(|&b| plan::postgres(size).into_iter().map(move |c| (c, b)))
        .filter(|(c, b)| args.wants(c, *b))
        .collect();
    let postgres_note = measure_postgres(&launcher, &bench, &on_postgres, &mut rows)?;
    for case in plan::floor(size) {
        if args.wants(&case, Backend::Floor) {
            rows.push(measure(&launcher, &bench, &case, Backend::Floor));
        }
    }
    if !args.no_scale {
        for case in plan::scale(size) {
            if args.wants(&case, Backend::Ours) {
                rows.push(measure(&launcher, &bench, &case, Backend::Ours));
            }
        }
    }

    let keys: Vec<(String, String)> = cases
        .iter()
        .filter(|c| rows.iter().any(|r| r.key == c.key))
        .map(|c| (c.key.clone(), c.label.clone()))
        .collect();
    let mode = if args.quick { "quick" } else { "full" };
    let mut out = format!(
        "Benchmark ({mode}), {}; driver and server on the same machine; {:.0} s.\n\n",
        machine::describe(),
        started.elapsed().as_secs_f64()
    );
    out.push_str(&table::side_by_side(&rows, &keys));
    out.push('\n');
    out.push_str(&table::disk(&rows));
    out.push('\n');
    match &postgres_note {
        Some(note) => {
            out.push_str(note);
            out.push('\n');
        }
        None => out.push_str(&table::postgres(&rows)),
    }
    if !args.no_scale {
        out.push('\n');
        out.push_str(&table::scale(&rows));
    }
    let python_backends = (!args.no_python_backends && args.only.is_none())
        .then(|| lifecycle::section(&root, size, !args.no_reference));
    if let Some(section) = &python_backends {
        out.push('\n');
        match section {
            Ok(table) => out.push_str(table),
            Err(e) => out.push_str(&format!("Python test backends: FAILED ({e:#})\n")),
        }
    }
    out.push('\n');
    out.push_str(&table::targets(&rows));
    println!("\n{out}");
    let file = launcher.log_dir.join("results.md");
    if let Err(e) = std::fs::write(&file, &out) {
        eprintln!("warning: cannot write {}: {e}", file.display());
    }
    fail_on_wrong_results(&rows)?;
    python_backends.transpose().map(|_| ())
}

/// The test pipeline's smoke run: every workload and scale measurement at a tiny size against
/// the debug `dt-server` (open-loop hello also against the floor), then the self-tests; fails
/// if any result was wrong or missing, or any self-test did not fail as predicted.
pub(crate) fn tiny(root: &Path) -> Result<()> {
    cmd::run(&mut cmd::cargo(
        root,
        &[
            "build",
            "--bin",
            "dt-server",
            "--bin",
            "dt-bench",
            "--bin",
            "dt-bench-floor",
        ],
    ))?;
    let target = cmd::target_dir(root);
    let debug: PathBuf = target.join("debug");
    let launcher = Launcher {
        server: debug.join("dt-server"),
        reference: None,
        floor: Some(debug.join("dt-bench-floor")),
        log_dir: server::log_dir(&target)?,
    };
    let bench = debug.join("dt-bench");
    let mut rows: Vec<Row> = plan::side_by_side(Size::Tiny)
        .into_iter()
        .chain(plan::scale(Size::Tiny))
        .map(|case| measure(&launcher, &bench, &case, Backend::Ours))
        .collect();
    for case in plan::floor(Size::Tiny) {
        rows.push(measure(&launcher, &bench, &case, Backend::Floor));
    }
    for case in plan::durable(Size::Tiny) {
        rows.push(measure(&launcher, &bench, &case, Backend::OursSqlite));
    }
    let on_postgres: Vec<(Case, Backend)> = POSTGRES
        .iter()
        .flat_map(|&b| plan::postgres(Size::Tiny).into_iter().map(move |c| (c, b)))
        .collect();
    measure_postgres(&launcher, &bench, &on_postgres, &mut rows)?;
    for r in &rows {
        let status = match &r.outcome {
            Some(o) if o.ok => format!("ok ({}/{})", o.completed, o.n),
            Some(o) => format!("FAILED ({}/{}, {} errors)", o.completed, o.n, o.errors),
            None => "FAILED (no result)".to_owned(),
        };
        println!("{status:>20}  {} [{}]", r.label, r.backend.name());
    }
    fail_on_wrong_results(&rows)?;
    selftest::run(&launcher, &bench)
}

/// Starts a fresh `backend` and runs one case on it; failures are kept in the row.
fn measure(launcher: &Launcher, bench: &Path, case: &Case, backend: Backend) -> Row {
    let label = format!("{} [{}]", case.label, backend.name());
    let log_name = format!("{}-{}", case.key, backend.name());
    let outcome = Deployment::start(launcher, backend, &case.server_args, &log_name)
        .and_then(|servers| driver::run(bench, &servers, case, &label, false));
    let disk_bytes = (backend == Backend::OursSqlite).then(|| {
        server::store_files(&launcher.store_file(&log_name))
            .iter()
            .filter_map(|f| std::fs::metadata(f).ok())
            .map(|m| m.len())
            .sum()
    });
    let outcome = match outcome {
        Ok(o) => {
            for e in &o.error_samples {
                eprintln!("{label}: {e}");
            }
            Some(o)
        }
        Err(e) => {
            eprintln!("{label}: {e:#}");
            None
        }
    };
    Row {
        key: case.key.clone(),
        label: case.label.clone(),
        backend,
        outcome,
        disk_bytes,
    }
}

fn fail_on_wrong_results(rows: &[Row]) -> Result<()> {
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.outcome.as_ref().is_some_and(|o| o.ok))
        .map(|r| format!("{} [{}]", r.label, r.backend.name()))
        .collect();
    if !failed.is_empty() {
        bail!("wrong or missing results in: {}", failed.join("; "));
    }
    Ok(())
}
