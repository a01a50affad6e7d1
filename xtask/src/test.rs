//! `cargo xtask test`: the CI pipeline. Runs the steps in order, stops at the first failure,
//! and ends with how long each step took.

use crate::{bench, browser, cmd, descriptor, e2e, fuzz, js, package, venv};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// Options of `cargo xtask test`.
#[derive(clap::Args)]
pub(crate) struct TestArgs {
    /// Skip `cargo fmt --check` and `cargo clippy`.
    #[arg(long)]
    no_lint: bool,
    /// Skip `cargo test`.
    #[arg(long)]
    no_rust: bool,
    /// Skip building dt-server and the Python end-to-end tests.
    #[arg(long)]
    no_python: bool,
    /// Skip the tiny benchmark run (it checks that `cargo xtask bench` still works).
    #[arg(long)]
    no_bench: bool,
    /// Skip the JavaScript SDK smoke test (tests/js, needs Node.js and npm).
    #[arg(long)]
    no_js: bool,
    /// Skip the Python package (building and installing durabletask_rs, its tests, and the
    /// end-to-end suite against it in-process).
    #[arg(long)]
    no_package: bool,
    /// Skip the dashboard's browser test (tests/browser, headless Chromium).
    #[arg(long)]
    no_browser: bool,
    /// Skip fuzzing the admin API with schemathesis.
    #[arg(long)]
    no_fuzz: bool,
    /// Arguments for pytest, after `--` (e.g. `-- -k hello -x`).
    #[arg(last = true)]
    pytest_args: Vec<String>,
}

/// Runs the pipeline and prints the per-step timings, whether it passed or not.
pub(crate) fn run(args: &TestArgs) -> Result<()> {
    let root = cmd::root()?;
    let mut timings = Timings::default();
    let result = steps(&root, args, &mut timings);
    timings.print(result.is_ok());
    result
}

fn steps(root: &Path, args: &TestArgs, t: &mut Timings) -> Result<()> {
    if !args.no_lint {
        t.step("cargo fmt --all --check", || {
            cmd::run(&mut cmd::cargo(root, &["fmt", "--all", "--check"]))
        })?;
        t.step(
            "cargo clippy --workspace --all-targets -- -D warnings",
            || {
                cmd::run(&mut cmd::cargo(
                    root,
                    &[
                        "clippy",
                        "--workspace",
                        "--all-targets",
                        "--",
                        "-D",
                        "warnings",
                    ],
                ))
            },
        )?;
    }
    if !args.no_rust {
        t.step("cargo test --workspace", || {
            cmd::run(&mut cmd::cargo(root, &["test", "--workspace"]))
        })?;
    }
    let python = t.step("python venv (.venv, xtask/python-requirements.txt)", || {
        venv::ensure(root)
    })?;
    t.step("descriptor check (xtask/check_descriptor.py)", || {
        descriptor::check(root, &python)
    })?;
    if args.no_python {
        if !args.pytest_args.is_empty() {
            println!("note: --no-python given, pytest arguments ignored");
        }
    } else {
        t.step("cargo build --bin dt-server", || {
            cmd::run(&mut cmd::cargo(root, &["build", "--bin", "dt-server"]))
        })?;
        t.step(
            "pytest tests/python (DT_SERVER_BIN=target/debug/dt-server)",
            || e2e::run(root, &python, &args.pytest_args, e2e::Mode::Binary),
        )?;
        t.step(
            "pytest tests/python (DT_E2E_STORE=sqlite: dt-server --store sqlite://...)",
            || e2e::run(root, &python, &args.pytest_args, e2e::Mode::BinarySqlite),
        )?;
        let postgres = "pytest tests/python (DT_E2E_STORE=postgres-pair: clients on one dt-server, \
                        workers on another, one PostgreSQL database)";
        t.step(postgres, || {
            e2e::run(root, &python, &args.pytest_args, e2e::Mode::BinaryPostgres)
        })?;
        if !args.no_package {
            t.step(
                "durabletask_rs: maturin build + pip install into .venv",
                || package::install(root, &python, package::Profile::Debug),
            )?;
            t.step("pytest dt-python/tests (the installed package)", || {
                package::test(root, &python)
            })?;
            t.step(
                "pytest tests/python (DT_E2E_BACKEND=inprocess: durabletask_rs in-process)",
                || e2e::run(root, &python, &args.pytest_args, e2e::Mode::InProcess),
            )?;
        }
    }
    if !args.no_python && !args.no_js {
        t.step(
            "JavaScript SDK smoke test (tests/js against target/debug/dt-server)",
            || js::run(root),
        )?;
    }
    if !args.no_python && !args.no_browser {
        let screenshots = cmd::target_dir(root).join("xtask").join("browser");
        t.step(
            "dashboard browser test (tests/browser, headless Chromium)",
            || browser::run(root, &python, &screenshots),
        )?;
    }
    if !args.no_python && !args.no_fuzz {
        t.step(
            "admin API fuzz (schemathesis from /api/v1/openapi.json)",
            || fuzz::run(root, &python),
        )?;
    }
    if !args.no_bench {
        t.step(
            "tiny bench (dt-bench against target/debug/dt-server)",
            || bench::tiny(root),
        )?;
        if !args.no_python && !args.no_package {
            t.step(
                "tiny bench (Python test backends: durabletask_rs vs durabletask.testing)",
                || bench::lifecycle::tiny(root, &python),
            )?;
        }
    }
    Ok(())
}

/// The steps run so far, with their durations.
#[derive(Default)]
struct Timings(Vec<(String, Duration)>);

impl Timings {
    /// Prints a header, runs `body`, and records how long it took.
    fn step<T>(&mut self, name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("==> {name}");
        let start = Instant::now();
        let result = body();
        self.0.push((name.to_owned(), start.elapsed()));
        result.with_context(|| format!("step `{name}` failed"))
    }

    /// Prints one line per step; the last step is marked as failed if `ok` is false.
    fn print(&self, ok: bool) {
        println!("==> summary");
        let last = self.0.len().saturating_sub(1);
        for (i, (name, elapsed)) in self.0.iter().enumerate() {
            let status = if !ok && i == last { "FAILED" } else { "ok" };
            println!("{status:>6} {:>8.1}s  {name}", elapsed.as_secs_f64());
        }
        let total: Duration = self.0.iter().map(|(_, elapsed)| *elapsed).sum();
        let verdict = if ok { "passed" } else { "FAILED" };
        println!("{verdict:>6} {:>8.1}s  total", total.as_secs_f64());
    }
}
