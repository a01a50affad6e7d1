//! The Python virtual environment `<root>/.venv`: created with `python3 -m venv` when missing
//! or broken, and given `xtask/python-requirements.txt` with pip unless the stamp file shows
//! that exact requirements file is already installed.

use crate::cmd;
use anyhow::{Context, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Makes sure the venv exists with the pinned requirements; returns its `python`.
pub(crate) fn ensure(root: &Path) -> Result<PathBuf> {
    let venv = root.join(".venv");
    let python = venv.join("bin").join("python");
    if !works(&python) {
        if venv.exists() {
            println!("{} is broken, recreating it", venv.display());
            fs::remove_dir_all(&venv)
                .with_context(|| format!("could not remove {}", venv.display()))?;
        }
        println!("creating {}", venv.display());
        cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }

    let requirements = root.join("xtask").join("python-requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("could not read {}", requirements.display()))?;
    let stamp = venv.join(".requirements-stamp");
    if fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted) {
        println!("requirements unchanged since the last install (stamp matches), skipping pip");
        return Ok(python);
    }
    println!("installing {}", requirements.display());
    cmd::run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(&requirements)
            .current_dir(root),
    )?;
    fs::write(&stamp, wanted).with_context(|| format!("could not write {}", stamp.display()))?;
    Ok(python)
}

/// Whether `python` exists and starts.
fn works(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import sys"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
