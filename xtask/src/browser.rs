//! The dashboard in a real browser: `tests/browser/dashboard.test.mjs` (playwright-core from
//! the directory's own lock file) drives Debian's headless Chromium against a fresh
//! `target/debug/dt-server` whose instances the Python SDK makes. Chromium is installed from
//! Debian's packages when missing; no browser is ever downloaded.

use crate::{cmd, js};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs the browser test; the main views are saved as PNG files in `screenshots`.
pub(crate) fn run(root: &Path, python: &Path, screenshots: &Path) -> Result<()> {
    ensure_chromium()?;
    let dir = root.join("tests").join("browser");
    js::npm_ci(&dir)?;
    let server = cmd::target_dir(root).join("debug").join("dt-server");
    if !server.is_file() {
        bail!("{} was not built", server.display());
    }
    cmd::run(
        Command::new("node")
            .args(["--test", "dashboard.test.mjs"])
            .env("DT_SERVER_BIN", &server)
            .env("DT_PYTHON", python)
            .env("CHROMIUM", CHROMIUM)
            .env("SCREENSHOT_DIR", screenshots)
            .current_dir(&dir),
    )
    .context("the dashboard browser test failed")
}

/// Installs Debian's `chromium` package unless the browser is there.
fn ensure_chromium() -> Result<()> {
    if Path::new(CHROMIUM).is_file() {
        return Ok(());
    }
    println!("{CHROMIUM} is missing: installing Debian's chromium package");
    cmd::run(Command::new("apt-get").args(["update", "-qq"]))
        .context("apt-get update failed (installing chromium needs root)")?;
    cmd::run(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "chromium",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .context("apt-get install chromium failed")
}
