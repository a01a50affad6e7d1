//! Starting and stopping the backends the bench measures: our `dt-server`, the Python
//! reference (`xtask/reference_backend.py` in the venv) and the RPC floor (`dt-bench-floor`),
//! each in a process of its own whose port is read from the one line it prints on stdout. Their
//! stderr goes to a log file.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Which server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Backend {
    Ours,
    /// Ours on a fresh SQLite file (`--store sqlite://...`): every acknowledgement durable.
    OursSqlite,
    /// Ours on a fresh PostgreSQL database (`--store postgres://...`, given by the caller).
    OursPostgres,
    /// Two of ours on one fresh PostgreSQL database: one task hub, the load split over both.
    OursPostgresPair,
    Reference,
    /// A stateless server with canned replies: what the RPCs alone cost.
    Floor,
}

impl Backend {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Backend::Ours => "ours",
            Backend::OursSqlite => "ours-sqlite",
            Backend::OursPostgres => "ours-pg",
            Backend::OursPostgresPair => "ours-pg×2",
            Backend::Reference => "reference",
            Backend::Floor => "floor",
        }
    }

    /// What the driver must be told about this backend.
    pub(crate) fn driver_args(self) -> &'static [&'static str] {
        match self {
            // It keeps no state to read results back from.
            Backend::Floor => &["--floor"],
            Backend::Ours
            | Backend::OursSqlite
            | Backend::OursPostgres
            | Backend::OursPostgresPair
            | Backend::Reference => &[],
        }
    }
}

/// How to start each backend.
pub(crate) struct Launcher {
    /// The `dt-server` binary.
    pub(crate) server: PathBuf,
    /// The venv's python and the launcher script, if the reference is run.
    pub(crate) reference: Option<(PathBuf, PathBuf)>,
    /// The `dt-bench-floor` binary, if the floor is run.
    pub(crate) floor: Option<PathBuf>,
    /// Where server logs go.
    pub(crate) log_dir: PathBuf,
}

/// A running server; killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    pub(crate) backend: Backend,
    /// The dashboard's port, if it printed one.
    pub(crate) http_port: Option<u16>,
}

impl Server {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    /// Kills the server; a SQLite one is first asked to stop (SIGTERM), so it closes its file
    /// and SQLite folds the write-ahead log into it: what is left on disk is then the store.
    fn drop(&mut self) {
        if self.backend == Backend::OursSqlite {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Launcher {
    /// The SQLite file of an `ours-sqlite` run.
    pub(crate) fn store_file(&self, log_name: &str) -> PathBuf {
        self.log_dir.join(format!("{log_name}.db"))
    }

    /// Starts `backend` with `args` added to its command line and waits for its port.
    pub(crate) fn start(
        &self,
        backend: Backend,
        args: &[String],
        log_name: &str,
    ) -> Result<Server> {
        let mut command = match backend {
            // A PostgreSQL store comes in `args`: the database outlives a server (see deploy.rs).
            Backend::Ours | Backend::OursPostgres | Backend::OursPostgresPair => {
                let mut c = Command::new(&self.server);
                c.args(["--port", "0"]);
                c
            }
            Backend::OursSqlite => {
                let db = self.store_file(log_name);
                for file in store_files(&db) {
                    let _ = std::fs::remove_file(file);
                }
                let mut c = Command::new(&self.server);
                c.args(["--port", "0", "--store"])
                    .arg(format!("sqlite://{}", db.display()));
                c
            }
            Backend::Reference => {
                let (python, script) = self
                    .reference
                    .as_ref()
                    .context("the reference backend is not set up")?;
                let mut c = Command::new(python);
                c.arg(script);
                c
            }
            Backend::Floor => {
                let floor = self.floor.as_ref().context("the RPC floor is not set up")?;
                let mut c = Command::new(floor);
                c.args(["--port", "0"]);
                c
            }
        };
        command.args(args);
        let log = self.log_dir.join(format!("{log_name}.log"));
        let log_file =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start the {} backend", backend.name()))?;
        match read_ports(&mut child) {
            Ok((port, http_port)) => Ok(Server {
                child,
                port,
                backend,
                http_port,
            }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                // The server's error line says why (e.g. a store that refused to open); with
                // RUST_BACKTRACE set a backtrace follows it, so it is not the last line.
                let why = std::fs::read_to_string(&log)
                    .ok()
                    .and_then(|text| {
                        let lines: Vec<&str> =
                            text.lines().filter(|l| !l.trim().is_empty()).collect();
                        let error = lines.iter().find(|l| l.starts_with("Error:"));
                        error.or(lines.last()).map(|l| (*l).to_owned())
                    })
                    .unwrap_or_default();
                Err(e).with_context(|| {
                    format!(
                        "the {} backend did not start (see {}): {why}",
                        backend.name(),
                        log.display()
                    )
                })
            }
        }
    }
}

/// A port line on a server's stdout.
enum PortLine {
    /// `... listening on <host>:<port>`
    Grpc(u16),
    /// `dt-server dashboard on http://<host>:<port>/`
    Http(u16),
}

/// Reads the child's stdout until a line ends in `listening on <host>:<port>`, and the
/// dashboard line dt-server prints with it (in the same write) if there is one; a thread keeps
/// draining stdout afterwards.
fn read_ports(child: &mut Child) -> Result<(u16, Option<u16>)> {
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(port) = parse_port(&line) {
                let _ = tx.send(port);
            }
        }
    });
    let port = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(PortLine::Grpc(port)) => port,
        Ok(PortLine::Http(_)) => bail!("a dashboard line before the `listening on` line"),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            bail!("no `listening on <host>:<port>` line within 60 s")
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            bail!("it closed its stdout (exited) before a `listening on <host>:<port>` line")
        }
    };
    let http = match rx.recv_timeout(Duration::from_millis(500)) {
        Ok(PortLine::Http(http)) => Some(http),
        _ => None,
    };
    Ok((port, http))
}

fn parse_port(line: &str) -> Option<PortLine> {
    if let Some((_, url)) = line.split_once("dashboard on http://") {
        let port = url
            .trim()
            .trim_end_matches('/')
            .rsplit_once(':')?
            .1
            .parse()
            .ok()?;
        return Some(PortLine::Http(port));
    }
    let (_, rest) = line.split_once("listening on ")?;
    rest.trim()
        .rsplit_once(':')?
        .1
        .parse()
        .ok()
        .map(PortLine::Grpc)
}

/// The log directory, created.
pub(crate) fn log_dir(target: &Path) -> Result<PathBuf> {
    let dir = target.join("xtask").join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// A SQLite store's files: the database and its write-ahead log.
pub(crate) fn store_files(db: &std::path::Path) -> [PathBuf; 2] {
    [
        db.to_owned(),
        PathBuf::from(format!("{}-wal", db.display())),
    ]
}
