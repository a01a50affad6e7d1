//! The Python package `durabletask_rs` (crate `dt-python/`): built into a wheel with the venv's
//! pinned maturin and installed into the venv, as a user's `pip install ./dt-python` would,
//! so the tests and the bench use what users get (entry points, stubs and all).

use crate::cmd;
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Which cargo profile the extension is built with.
#[derive(Clone, Copy)]
pub(crate) enum Profile {
    /// Debug, like the `dt-server` the tests run.
    Debug,
    /// Release, for the bench.
    Release,
}

/// Builds the wheel and installs it into the venv of `python` (replacing any earlier build).
pub(crate) fn install(root: &Path, python: &Path, profile: Profile) -> Result<()> {
    let (name, flags): (&str, &[&str]) = match profile {
        Profile::Debug => ("debug", &[]),
        Profile::Release => ("release", &["--release"]),
    };
    let out = cmd::target_dir(root).join("wheels").join(name);
    if out.exists() {
        fs::remove_dir_all(&out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    let maturin = python.with_file_name("maturin");
    cmd::run(
        Command::new(&maturin)
            .args([
                "build",
                "--quiet",
                "--manifest-path",
                "dt-python/Cargo.toml",
            ])
            .args(flags)
            .arg("--interpreter")
            .arg(python)
            .arg("--out")
            .arg(&out)
            .current_dir(root),
    )?;
    let wheel = only_wheel(&out)?;
    cmd::run(
        Command::new(python)
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .args(["--force-reinstall", "--no-deps"])
            .arg(&wheel)
            .current_dir(root),
    )
}

fn only_wheel(dir: &Path) -> Result<PathBuf> {
    let wheels: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .collect();
    match wheels.as_slice() {
        [wheel] => Ok(wheel.clone()),
        _ => bail!("expected one wheel in {}, found {wheels:?}", dir.display()),
    }
}

/// The package's own tests (`dt-python/tests`) against the installed wheel; the console
/// script's options are compared with the debug `dt-server` binary's.
pub(crate) fn test(root: &Path, python: &Path) -> Result<()> {
    let server = cmd::target_dir(root).join("debug").join("dt-server");
    cmd::run(
        Command::new(python)
            .args(["-m", "pytest", "dt-python/tests", "-p", "no:cacheprovider"])
            .env("DT_SERVER_BIN", &server)
            .current_dir(root),
    )
}
