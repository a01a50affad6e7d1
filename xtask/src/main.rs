//! `cargo xtask`: the project's task runner. This file is the command line only; each task
//! lives in its own module.

// A task runner reports its progress on stdout by design.
#![allow(clippy::print_stdout)]

mod bench;
mod browser;
mod cmd;
mod descriptor;
mod e2e;
mod fuzz;
mod js;
mod mutants;
mod package;
mod postgres;
mod test;
mod venv;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Project tasks (run with `cargo xtask <task>`).
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check CI runs: fmt, clippy, cargo test, the descriptor check, and the Python
    /// end-to-end tests (`cargo xtask test -- <pytest args>` forwards arguments to pytest).
    Test(test::TestArgs),
    /// Measure our server side by side with the Python reference backend, then at scale
    /// (`--quick` for small sizes); fails if any result was wrong.
    Bench(bench::BenchArgs),
    /// Mutation testing of dt-core and the stores with cargo-mutants (installed if missing),
    /// within a time budget (`--minutes`); prints the mutants no test caught. Not part of CI.
    Mutants(mutants::MutantsArgs),
    /// Run the dashboard's browser test and save its screenshots of the main views in `docs/`
    /// (the README shows them).
    Screenshots,
}

/// Builds dt-server and the venv, then runs the browser test with `docs/` as its screenshot
/// directory.
fn screenshots() -> anyhow::Result<()> {
    let root = cmd::root()?;
    cmd::run(&mut cmd::cargo(&root, &["build", "--bin", "dt-server"]))?;
    let python = venv::ensure(&root)?;
    browser::run(&root, &python, &root.join("docs"))
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Task::Test(args) => test::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::Mutants(args) => mutants::run(&args),
        Task::Screenshots => screenshots(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The cause chain on one line, without the backtrace RUST_BACKTRACE would add.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
