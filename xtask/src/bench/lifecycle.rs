//! What every Python test pays for its backend: create + start + stop, and `reset()`, of the
//! installed `durabletask_rs` package (ours, in-process) and the pinned SDK's
//! `durabletask.testing` (the reference), measured side by side in one Python process by
//! `xtask/backend_lifecycle.py`, shown in the bench's table style.

use super::plan::Size;
use super::table::{num, ratio};
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::fmt::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// One measurement of one backend, as the script prints it.
#[derive(Deserialize)]
struct Sample {
    key: String,
    label: String,
    backend: String,
    n: u64,
    mean_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs the script with the venv's `python` (the package must be installed) and returns the
/// markdown table.
pub(crate) fn measure(root: &Path, python: &Path, size: Size, reference: bool) -> Result<String> {
    let rounds = match size {
        Size::Tiny => 3,
        Size::Quick => 50,
        Size::Full => 300,
    };
    let mut command = Command::new(python);
    command
        .arg(root.join("xtask").join("backend_lifecycle.py"))
        .args(["--rounds", &rounds.to_string()])
        .current_dir(root)
        .stderr(Stdio::inherit());
    if !reference {
        command.arg("--no-reference");
    }
    let output = command
        .output()
        .context("cannot run xtask/backend_lifecycle.py")?;
    if !output.status.success() {
        bail!("xtask/backend_lifecycle.py failed ({})", output.status);
    }
    let samples: Vec<Sample> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()
        .context("xtask/backend_lifecycle.py printed something other than JSON lines")?;
    if samples.is_empty() {
        bail!("xtask/backend_lifecycle.py measured nothing");
    }
    Ok(table(&samples))
}

fn table(samples: &[Sample]) -> String {
    let mut t = String::new();
    t.push_str(
        "| per test (Python backend object) | backend | mean ms | p50 ms | p99 ms | rounds |\n",
    );
    t.push_str("|---|---|---:|---:|---:|---:|\n");
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for s in samples {
        if !keys.iter().any(|(k, _)| *k == s.key) {
            keys.push((&s.key, &s.label));
        }
    }
    for (key, label) in keys {
        let find = |backend: &str| {
            samples
                .iter()
                .find(|s| s.key == key && s.backend == backend)
        };
        let (ours, reference) = (find("ours"), find("reference"));
        for (i, s) in [ours, reference].into_iter().flatten().enumerate() {
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} |",
                if i == 0 { label } else { "" },
                s.backend,
                num(s.mean_ms),
                num(s.p50_ms),
                num(s.p99_ms),
                s.n
            );
        }
        if let (Some(a), Some(b)) = (ours, reference) {
            let _ = writeln!(
                t,
                "| | ours/ref | {} | {} | {} | |",
                ratio(Some(a.mean_ms), Some(b.mean_ms)),
                ratio(Some(a.p50_ms), Some(b.p50_ms)),
                ratio(Some(a.p99_ms), Some(b.p99_ms)),
            );
        }
    }
    t
}

/// `cargo xtask bench`'s hook: the release wheel installed into the venv, then the table.
pub(crate) fn section(root: &Path, size: Size, reference: bool) -> Result<String> {
    let python = crate::venv::ensure(root)?;
    crate::package::install(root, &python, crate::package::Profile::Release)?;
    let table = measure(root, &python, size, reference)?;
    Ok(format!(
        "Python test backends (durabletask_rs in-process, release build, vs durabletask.testing; \
         both in one Python process, a free port picked outside the timing):\n\n{table}"
    ))
}

/// The test pipeline's smoke run, on the package already installed (debug).
pub(crate) fn tiny(root: &Path, python: &Path) -> Result<()> {
    let table = measure(root, python, Size::Tiny, true)?;
    println!("{table}");
    Ok(())
}
