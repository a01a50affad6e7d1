//! `cargo xtask mutants`: mutation testing of dt-core and the stores with cargo-mutants
//! (installed with `cargo install` when missing). Each mutant is a small change to the code (a
//! condition negated, a return value replaced); a mutant that no test notices "survives" and
//! points at a missing test. Runs outside CI, within a time budget, and prints the survivors.

use crate::cmd;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// The cargo-mutants release this task installs when none is on PATH.
const CARGO_MUTANTS_VERSION: &str = "27.1.0";

/// Options of `cargo xtask mutants`.
#[derive(clap::Args)]
pub(crate) struct MutantsArgs {
    /// Stop after this many minutes; the mutants tested by then are reported.
    #[arg(long, default_value_t = 120)]
    minutes: u64,
    /// Packages to mutate (default: dt-core and dt-store).
    #[arg(long = "package", short = 'p')]
    packages: Vec<String>,
    /// Mutate only files matching these globs, e.g. `dt-store/src/memory/*.rs`.
    #[arg(long = "file", short = 'f')]
    files: Vec<String>,
    /// More arguments for cargo-mutants, after `--` (e.g. `-- --list`).
    #[arg(last = true)]
    extra: Vec<String>,
}

/// Runs cargo-mutants within the budget and prints what survived.
pub(crate) fn run(args: &MutantsArgs) -> Result<()> {
    let root = cmd::root()?;
    ensure_installed(&root)?;
    let output = cmd::target_dir(&root).join("xtask").join("mutants");
    std::fs::create_dir_all(&output)
        .with_context(|| format!("could not create {}", output.display()))?;
    let mut command = cmd::cargo(&root, &["mutants"]);
    let packages = if args.packages.is_empty() {
        vec!["dt-core".to_owned(), "dt-store".to_owned()]
    } else {
        args.packages.clone()
    };
    for package in &packages {
        command.args(["--package", package]);
    }
    for file in &args.files {
        command.args(["--file", file]);
    }
    command.arg("--output").arg(&output).args(&args.extra);
    let budget = Duration::from_secs(args.minutes * 60);
    println!(
        "cargo mutants over {} for at most {} min (results in {})",
        packages.join(", "),
        args.minutes,
        output.display()
    );
    let finished = run_within(&mut command, budget)?;
    report(&output.join("mutants.out"), finished)
}

/// Installs cargo-mutants with `cargo install` unless `cargo mutants` already works.
fn ensure_installed(root: &Path) -> Result<()> {
    let present = cmd::cargo(root, &["mutants", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    println!("cargo-mutants is missing: installing {CARGO_MUTANTS_VERSION} with cargo install");
    cmd::run(&mut cmd::cargo(
        root,
        &[
            "install",
            "cargo-mutants",
            "--locked",
            "--version",
            CARGO_MUTANTS_VERSION,
        ],
    ))
}

/// Runs `command` in its own process group; when the budget runs out, interrupts the group
/// (cargo-mutants stops and writes what it has) and waits for it. Returns whether the run
/// finished on its own.
fn run_within(command: &mut Command, budget: Duration) -> Result<Option<ExitStatus>> {
    use std::os::unix::process::CommandExt;
    let mut child = command
        .process_group(0)
        .spawn()
        .context("could not start cargo mutants")?;
    let deadline = Instant::now() + budget;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("time budget spent: interrupting cargo mutants");
    let group = format!("-{}", child.id());
    // SIGINT to the whole group, as Ctrl-C would: cargo-mutants records the outcomes so far.
    let _ = Command::new("kill").args(["-INT", "--", &group]).status();
    child.wait()?;
    Ok(None)
}

/// Prints the counts and every surviving mutant.
fn report(out: &Path, finished: Option<ExitStatus>) -> Result<()> {
    let read = |name: &str| -> Vec<String> {
        std::fs::read_to_string(out.join(name))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let missed = read("missed.txt");
    let caught = read("caught.txt").len();
    let timeout = read("timeout.txt").len();
    let unviable = read("unviable.txt").len();
    println!("==> surviving mutants ({}):", missed.len());
    for line in &missed {
        println!("  {line}");
    }
    println!(
        "==> caught {caught}, timed out {timeout}, unviable {unviable}, survived {}{}",
        missed.len(),
        if finished.is_some() {
            ""
        } else {
            " (stopped by the time budget)"
        }
    );
    match finished {
        // cargo-mutants exits 2 when mutants survived, 3 on timeouts: a report, not a failure.
        Some(status) if !matches!(status.code(), Some(0 | 2 | 3)) => {
            bail!("cargo mutants failed ({status})")
        }
        _ => Ok(()),
    }
}
