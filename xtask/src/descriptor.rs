//! The descriptor check: writes our compiled `FileDescriptorSet` to
//! `target/xtask/descriptor_set.bin`, then has `xtask/check_descriptor.py` prove it notices
//! differences (`--self-test`) and compare it with the descriptor the durabletask SDK ships.

use crate::cmd;
use anyhow::{Context, Result};
use std::fs;
use std::path::Path;
use std::process::Command;

/// Runs the script's self-test, then the comparison, with the venv's `python`.
pub(crate) fn check(root: &Path, python: &Path) -> Result<()> {
    let dir = cmd::target_dir(root).join("xtask");
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let set = dir.join("descriptor_set.bin");
    fs::write(&set, dt_proto::FILE_DESCRIPTOR_SET)
        .with_context(|| format!("could not write {}", set.display()))?;

    let script = root.join("xtask").join("check_descriptor.py");
    cmd::run(
        Command::new(python)
            .arg(&script)
            .arg("--self-test")
            .current_dir(root),
    )?;
    cmd::run(
        Command::new(python)
            .arg(&script)
            .arg(&set)
            .current_dir(root),
    )
}
