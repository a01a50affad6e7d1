//! The JavaScript SDK smoke test: installs the pinned `@microsoft/durabletask-js` into
//! `tests/js` (npm, once per lock-file change) and runs `tests/js/smoke.mjs` against a fresh
//! `target/debug/dt-server`.

use crate::bench::server::{Backend, Launcher};
use crate::cmd;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// Runs the smoke test; fails if npm or node are missing or any scenario fails.
pub(crate) fn run(root: &Path) -> Result<()> {
    let dir = root.join("tests/js");
    npm_ci(&dir)?;
    let target = cmd::target_dir(root);
    let launcher = Launcher {
        server: target.join("debug").join("dt-server"),
        reference: None,
        floor: None,
        log_dir: crate::bench::server::log_dir(&target)?,
    };
    let server = launcher.start(Backend::Ours, &[], "js-smoke")?;
    cmd::run(
        Command::new("node")
            .arg("smoke.mjs")
            .arg(format!("localhost:{}", server.port))
            .current_dir(&dir),
    )
    .context("the JavaScript SDK smoke test failed (server log: target/xtask/bench/js-smoke.log)")
}

/// `npm ci` in `dir` when its `package-lock.json` changed since the last install.
pub(crate) fn npm_ci(dir: &Path) -> Result<()> {
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("cannot read {}/package-lock.json", dir.display()))?;
    let stamp = dir.join("node_modules/.lock-stamp");
    if std::fs::read(&stamp).is_ok_and(|s| s == lock) {
        println!(
            "{}: package-lock.json unchanged since the last install, skipping npm",
            dir.display()
        );
        return Ok(());
    }
    cmd::run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(dir),
    )
    .with_context(|| {
        format!(
            "npm ci in {} failed (is Node.js with npm installed?)",
            dir.display()
        )
    })?;
    std::fs::write(&stamp, lock).context("cannot write the npm stamp")?;
    Ok(())
}
