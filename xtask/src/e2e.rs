//! The Python end-to-end tests: pytest on `tests/python`, with `DT_SERVER_BIN` pointing at
//! the debug `dt-server` binary the SDK tests start.

use crate::cmd;
use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;

/// Runs `<venv python> -m pytest tests/python <extra>` from the workspace root.
pub(crate) fn run(root: &Path, python: &Path, extra: &[String]) -> Result<()> {
    if !root.join("tests").join("python").is_dir() {
        bail!("tests/python does not exist yet: there are no Python end-to-end tests to run");
    }
    let server = cmd::target_dir(root).join("debug").join("dt-server");
    if !server.is_file() {
        bail!("{} was not built", server.display());
    }
    cmd::run(
        Command::new(python)
            .args(["-m", "pytest", "tests/python"])
            .args(extra)
            .env("DT_SERVER_BIN", &server)
            .current_dir(root),
    )
}
