//! Starting and stopping the `dt-server` binary in tests.

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
pub type Error = Box<dyn std::error::Error + Send + Sync>;

pub const WAIT: Duration = Duration::from_secs(10);
pub const BIN: &str = env!("CARGO_BIN_EXE_dt-server");

/// A running `dt-server`, its port, and the file its stderr goes to.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// What the server has written to stderr so far.
    pub fn stderr_text(&self) -> std::io::Result<String> {
        std::fs::read_to_string(&self.stderr)
    }
}

/// Starts the binary with `args` and `env` and returns it with the port from its stdout line.
pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Result<Server, Error> {
    let dir = tempfile::tempdir()?;
    let stderr = dir.path().join("stderr");
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("DT_AUTH_TOKEN")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr)?)
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line()).await??;
    let Some(line) = line else {
        let text = std::fs::read_to_string(&stderr)?;
        return Err(format!("dt-server exited before printing its address:\n{text}").into());
    };
    let port = line
        .strip_prefix("dt-server listening on ")
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(_, p)| p)
        .ok_or_else(|| format!("unexpected first line {line:?}"))?
        .parse()?;
    Ok(Server {
        child,
        port,
        stderr,
        _dir: dir,
    })
}

/// Starts the binary (plain `--port 0` first argument included by the caller) and returns
/// the child with its port; stderr is discarded.
pub async fn spawn(args: &[&str]) -> Result<(Child, u16), Error> {
    let server = start(args, &[]).await?;
    Ok((server.child, server.port))
}

/// Sends a signal to the child.
pub fn signal(child: &Child, name: &str) -> TestResult {
    let pid = child.id().ok_or("already exited")?;
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()?;
    assert!(status.success(), "kill -{name} failed");
    Ok(())
}

/// SIGTERM, then a clean exit within WAIT.
pub async fn terminate(mut child: Child) -> TestResult {
    signal(&child, "TERM")?;
    let exit = tokio::time::timeout(WAIT, child.wait()).await??;
    assert!(
        exit.success(),
        "dt-server exited with {exit:?} after SIGTERM"
    );
    Ok(())
}

/// Runs the binary to completion (for options that must make it fail at start).
pub async fn run_to_exit(
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(std::process::ExitStatus, String), Error> {
    let out = tokio::time::timeout(
        WAIT,
        Command::new(BIN)
            .args(args)
            .env_remove("DT_AUTH_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    Ok((out.status, String::from_utf8(out.stderr)?))
}
