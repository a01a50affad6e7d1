//! The JavaScript SDK smoke test: installs the pinned `@microsoft/durabletask-js` into
//! `tests/js` (npm, once per lock-file change) and runs `tests/js/smoke.mjs` against a fresh
//! `target/debug/dt-server`, in memory and then on a new SQLite file.

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
    let db = launcher.log_dir.join("js-smoke.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let sqlite = vec!["--store".to_owned(), format!("sqlite://{}", db.display())];
    for (name, args) in [("js-smoke", Vec::new()), ("js-smoke-sqlite", sqlite)] {
        let server = launcher.start(Backend::Ours, &args, name)?;
        cmd::run(
            Command::new("node")
                .arg("smoke.mjs")
                .arg(format!("localhost:{}", server.port))
                .current_dir(&dir),
        )
        .with_context(|| {
            format!(
                "the JavaScript SDK smoke test failed (server log: target/xtask/bench/{name}.log)"
            )
        })?;
    }
    Ok(())
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
