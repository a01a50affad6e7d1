//! Readings of a process from Linux's /proc: CPU time (utime + stime of all its threads, in
//! clock ticks), resident memory now and at its peak, and its thread count. The driver reads
//! the servers' (by pid, summed) and its own (`self`), and the CPU time of the PostgreSQL
//! processes that work for a database (`/proc/*/stat` is world-readable, so a server run by
//! another user can be read).

use anyhow::{Context, Result};
use std::process::Command;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sample {
    /// utime + stime in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// VmRSS in KiB.
    pub(crate) rss_kb: u64,
    /// VmHWM (peak resident set) in KiB.
    pub(crate) hwm_kb: u64,
    /// Threads.
    pub(crate) threads: u64,
}

/// utime + stime from the text of `/proc/<pid>/stat`.
fn cpu_ticks(stat: &str) -> Result<u64> {
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start with field 3 (state), so utime (14) and stime (15) are at 11 and 12.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |k: usize| -> Result<u64> {
        fields
            .get(k)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("malformed stat field {}", k + 3))
    };
    Ok(tick(11)? + tick(12)?)
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`; `pid` is a number or `self`.
pub(crate) fn sample(pid: &str) -> Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Sample {
        cpu_ticks: cpu_ticks(&stat)?,
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
        threads: field("Threads:"),
    })
}

/// The sum of the readings of `pids` (memory and threads added up too); `None` for no pids.
pub(crate) fn sample_all(pids: &[String]) -> Result<Option<Sample>> {
    let mut total: Option<Sample> = None;
    for pid in pids {
        let s = sample(pid)?;
        let t = total.get_or_insert_with(Sample::default);
        t.cpu_ticks += s.cpu_ticks;
        t.rss_kb += s.rss_kb;
        t.hwm_kb += s.hwm_kb;
        t.threads += s.threads;
    }
    Ok(total)
}

/// The CPU ticks of the running processes named `postgres` that work for `database`: its
/// connections (whose title names it) and the server-wide ones (postmaster, checkpointer, WAL
/// writer, ...), but not other databases' connections, which may be other runs on the same
/// server. A connection that closed between two readings is missing from the later one, so
/// this measures servers that keep their connections (dt-server does).
pub(crate) fn postgres_ticks(database: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        // A process may end while it is read: it then counts for nothing.
        let read = |file: &str| std::fs::read(path.join(file)).ok();
        if read("comm").is_none_or(|comm| comm.trim_ascii() != b"postgres") {
            continue;
        }
        let Some(cmdline) = read("cmdline") else {
            continue;
        };
        if !serves(&String::from_utf8_lossy(&cmdline), database) {
            continue;
        }
        let stat = read("stat").map(|s| String::from_utf8_lossy(&s).into_owned());
        total += stat.and_then(|s| cpu_ticks(&s).ok()).unwrap_or(0);
    }
    total
}

/// Whether a PostgreSQL process whose title (command line) is `title` works for `database`: a
/// client connection's title is `postgres: [cluster: ]user database host(port) activity` (or
/// `[local]` for a socket), a server-wide process's has no client.
fn serves(title: &str, database: &str) -> bool {
    let words: Vec<&str> = title.split([' ', '\0']).filter(|w| !w.is_empty()).collect();
    let client = words
        .iter()
        .any(|w| *w == "[local]" || (w.ends_with(')') && w.contains('(')));
    !client || words.contains(&database)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that cannot be run).
pub(crate) fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Milliseconds of CPU between two readings.
pub(crate) fn cpu_ms(before: Sample, after: Sample, ticks_per_second: u64) -> f64 {
    after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64 * 1000.0 / ticks_per_second as f64
}

#[cfg(test)]
mod tests {
    use super::serves;

    #[test]
    fn postgres_processes_count_for_their_own_database_and_the_whole_server() {
        let mine = "postgres: 15/main: postgres dt_bench_1 127.0.0.1(40000) idle";
        let other = "postgres: 15/main: postgres dt_e2e_2 127.0.0.1(40001) idle";
        let local = "postgres: postgres dt_e2e_2 [local] idle";
        assert!(serves(mine, "dt_bench_1"));
        assert!(!serves(other, "dt_bench_1"));
        assert!(!serves(local, "dt_bench_1"));
        assert!(serves("postgres: 15/main: walwriter ", "dt_bench_1"));
        assert!(serves(
            "/usr/lib/postgresql/15/bin/postgres\0-D\0/var/lib/postgresql/15/main\0",
            "dt_bench_1"
        ));
    }
}
