//! Fuzzing the admin API from its own OpenAPI document: schemathesis (pinned in the venv)
//! generates requests for every operation against a fresh `target/debug/dt-server` and fails
//! on any 5xx answer. The run is bounded in time; the live feed, which never ends, is left out.

use crate::bench::server::{Backend, Launcher};
use crate::cmd;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// The time budget of one run, in seconds.
const MAX_TIME: &str = "45";

pub(crate) fn run(root: &Path, python: &Path) -> Result<()> {
    let target = cmd::target_dir(root);
    let launcher = Launcher {
        server: target.join("debug").join("dt-server"),
        reference: None,
        floor: None,
        log_dir: crate::bench::server::log_dir(&target)?,
    };
    let server = launcher.start(Backend::Ours, &[], "api-fuzz")?;
    let http = server
        .http_port
        .context("dt-server printed no dashboard line")?;
    // Hypothesis keeps its example database in the working directory.
    let work = target.join("xtask").join("fuzz");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let schemathesis = python.with_file_name("schemathesis");
    cmd::run(
        Command::new(schemathesis)
            .arg("run")
            .arg(format!("http://127.0.0.1:{http}/api/v1/openapi.json"))
            .args(["--checks", "not_a_server_error"])
            .args(["--exclude-path", "/api/v1/events"])
            .args(["--max-time", MAX_TIME, "--workers", "2", "--no-color"])
            .current_dir(&work),
    )
    .context("the API answered a fuzzed request with a 5xx (server log: target/xtask/bench/api-fuzz.log)")
}
