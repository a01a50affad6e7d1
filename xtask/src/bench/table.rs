//! The bench's output: the side-by-side table (ours, the reference, and their ratio per
//! workload; for some also ours on SQLite and on PostgreSQL, for open-loop hello also the RPC
//! floor and ours/floor), the SQLite runs' disk use, the PostgreSQL runs' CPU (PostgreSQL's
//! own included), the scale table (ours only), and the targets with whether each was met, all
//! as markdown. Every run shows how many duplicate dispatches its workers received.

use super::driver::Outcome;
use super::server::Backend;
use std::fmt::Write;

/// One finished run (`outcome` is `None` if the driver or the server failed).
pub(crate) struct Row {
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) backend: Backend,
    pub(crate) outcome: Option<Outcome>,
    /// Bytes the store's files took at the end of the run (SQLite runs only).
    pub(crate) disk_bytes: Option<u64>,
}

fn find<'a>(rows: &'a [Row], key: &str, backend: Backend) -> Option<&'a Outcome> {
    rows.iter()
        .find(|r| r.key == key && r.backend == backend)
        .and_then(|r| r.outcome.as_ref())
}

/// Three significant digits (or an integer when large).
pub(crate) fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), num)
}

fn count(x: Option<u64>) -> String {
    x.map_or_else(|| "–".to_owned(), |x| x.to_string())
}

pub(crate) fn ratio(ours: Option<f64>, reference: Option<f64>) -> String {
    match (ours, reference) {
        (Some(a), Some(b)) if b > 0.0 => format!("{}×", num(a / b)),
        _ => "–".to_owned(),
    }
}

fn mb(kb: Option<u64>) -> Option<f64> {
    kb.map(|k| k as f64 / 1024.0)
}

fn verdict(o: Option<&Outcome>) -> String {
    match o {
        Some(o) if o.ok && !o.verified => "ok (no state to read back)".to_owned(),
        Some(o) if o.ok => "ok".to_owned(),
        Some(o) => format!("FAILED ({}/{} done, {} errors)", o.completed, o.n, o.errors),
        None => "FAILED (no result)".to_owned(),
    }
}

/// The metrics of one side-by-side cell row.
fn metrics(o: Option<&Outcome>) -> [Option<f64>; 6] {
    let Some(o) = o else { return [None; 6] };
    [
        Some(o.throughput),
        Some(o.p50_ms),
        Some(o.p99_ms),
        o.cpu_per_instance(),
        mb(o.server_hwm_kb),
        Some(o.driver_cpu_ms / o.n.max(1) as f64),
    ]
}

fn duplicates(o: Option<&Outcome>) -> String {
    count(o.map(|o| o.duplicates as u64))
}

/// The side-by-side table's lines, in order, for the backends that ran a workload.
const LINES: [(Backend, &str); 6] = [
    (Backend::Ours, "ours"),
    (Backend::Reference, "reference"),
    (Backend::OursSqlite, "ours, SQLite"),
    (Backend::OursPostgres, "ours, PostgreSQL"),
    (Backend::OursPostgresPair, "ours ×2, one PostgreSQL"),
    (Backend::Floor, "floor"),
];

/// Its ratio lines (first over second), where both ran.
const RATIOS: [(&str, Backend, Backend); 6] = [
    ("ours/ref", Backend::Ours, Backend::Reference),
    ("SQLite/ref", Backend::OursSqlite, Backend::Reference),
    ("PG/ref", Backend::OursPostgres, Backend::Reference),
    ("PG×2/ref", Backend::OursPostgresPair, Backend::Reference),
    ("PG×2/PG", Backend::OursPostgresPair, Backend::OursPostgres),
    ("ours/floor", Backend::Ours, Backend::Floor),
];

/// The side-by-side table: per workload, a line for each backend that ran it (ours, the
/// reference, ours on SQLite and on PostgreSQL, the floor) and the ratios between them.
pub(crate) fn side_by_side(rows: &[Row], keys: &[(String, String)]) -> String {
    let mut t = String::new();
    t.push_str("| workload | backend | orch/s | p50 ms | p99 ms | server CPU ms/orch | server peak RSS MB | driver CPU ms/orch | dup. dispatches | result |\n");
    t.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (key, label) in keys {
        let ran = |backend| rows.iter().any(|r| &r.key == key && r.backend == backend);
        let mut first = true;
        for (backend, name) in LINES {
            if !ran(backend) {
                continue;
            }
            let o = find(rows, key, backend);
            let cells: Vec<String> = metrics(o).iter().map(|x| opt(*x)).collect();
            let _ = writeln!(
                t,
                "| {} | {name} | {} | {} | {} |",
                if first { label.as_str() } else { "" },
                cells.join(" | "),
                duplicates(o),
                verdict(o)
            );
            first = false;
        }
        for (name, mine, other) in RATIOS {
            if !(ran(mine) && ran(other)) {
                continue;
            }
            let (a, b) = (
                metrics(find(rows, key, mine)),
                metrics(find(rows, key, other)),
            );
            let cells: Vec<String> = a.iter().zip(&b).map(|(x, y)| ratio(*x, *y)).collect();
            let _ = writeln!(t, "| | {name} | {} | | |", cells.join(" | "));
        }
    }
    t
}

/// What a scale run shows.
fn scale_summary(key: &str, o: &Outcome) -> String {
    let growth = o.rss_growth_kb().map(|k| k as f64);
    let per_instance_kb = growth.map(|g| g / o.n.max(1) as f64);
    let threads = match (o.server_threads_start, o.server_threads) {
        (Some(a), Some(b)) => format!("threads {a} → {b}"),
        _ => String::new(),
    };
    if key.starts_with("scale-hello") {
        format!(
            "{} orch/s, server CPU {} ms/orch, driver CPU {} ms/orch, RSS +{} MB ({} KB/instance), {threads}",
            num(o.throughput),
            opt(o.cpu_per_instance()),
            num(o.driver_cpu_ms / o.n.max(1) as f64),
            opt(growth.map(|g| g / 1024.0)),
            opt(per_instance_kb),
        )
    } else if key.starts_with("scale-sequence") {
        let events = o.history_events.map(|h| h as f64);
        let per_event_us = o
            .cpu_per_instance()
            .zip(events)
            .map(|(c, h)| c * 1000.0 / h);
        format!(
            "{} orch/s, {} history events/orch, server CPU {} ms/orch = {} µs per history event, p50 {} ms",
            num(o.throughput),
            opt(events),
            opt(o.cpu_per_instance()),
            opt(per_event_us),
            num(o.p50_ms),
        )
    } else if key == "scale-timers" {
        format!(
            "{threads}, RSS +{} MB ({} KB/timer), all parked in {} s",
            opt(growth.map(|g| g / 1024.0)),
            opt(per_instance_kb),
            num(o.wall_ms / 1000.0),
        )
    } else if key == "scale-paging" {
        format!(
            "{} pages in {} ms (server CPU {} ms)",
            opt(o.extra.get("pages").copied()),
            opt(o.extra.get("paging_ms").copied()),
            opt(o.extra.get("paging_server_cpu_ms").copied()),
        )
    } else if key == "scale-skipped-timers" {
        format!(
            "{}/{} completed (each waited on) in {} ms of wall time",
            o.completed,
            o.n,
            num(o.wall_ms),
        )
    } else if key == "scale-waiters" {
        format!(
            "{}/{} waits returned the right result in {} ms (p50 {} ms, p99 {} ms)",
            o.completed,
            o.n,
            num(o.wall_ms),
            num(o.p50_ms),
            num(o.p99_ms),
        )
    } else {
        format!(
            "done in {} s, {} history events, server CPU {} ms, peak RSS {} MB",
            num(o.wall_ms / 1000.0),
            opt(o.history_events.map(|h| h as f64)),
            opt(o.server_cpu_ms),
            opt(mb(o.server_hwm_kb)),
        )
    }
}

/// The scale table (ours only).
pub(crate) fn scale(rows: &[Row]) -> String {
    let mut t = String::from(
        "| measurement (ours) | result | dup. dispatches | check |\n|---|---|---:|---|\n",
    );
    for r in rows.iter().filter(|r| r.key.starts_with("scale-")) {
        let summary = r
            .outcome
            .as_ref()
            .map_or_else(String::new, |o| scale_summary(&r.key, o));
        let _ = writeln!(
            t,
            "| {} | {summary} | {} | {} |",
            r.label,
            duplicates(r.outcome.as_ref()),
            verdict(r.outcome.as_ref())
        );
    }
    t
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "–",
    }
}

/// The targets against what was measured.
pub(crate) fn targets(rows: &[Row]) -> String {
    let mut t = String::from("| target | measured | |\n|---|---|---|\n");
    let ours = |k: &str| find(rows, k, Backend::Ours);
    let reference = |k: &str| find(rows, k, Backend::Reference);
    let mut line = |target: &str, measured: String, ok: Option<bool>| {
        let _ = writeln!(t, "| {target} | {measured} | {} |", met(ok));
    };

    let cpu = ours("hello-open").and_then(Outcome::cpu_per_instance);
    let ref_cpu = reference("hello-open").and_then(Outcome::cpu_per_instance);
    let cpu_ratio = cpu.zip(ref_cpu).map(|(a, b)| a / b);
    line(
        "server CPU per hello orchestration ≤ 1/20 of the reference's",
        format!(
            "{} vs {} ms = 1/{}",
            opt(cpu),
            opt(ref_cpu),
            opt(cpu_ratio.map(|r| 1.0 / r))
        ),
        cpu_ratio.map(|r| r <= 0.05),
    );
    let floor_cpu = find(rows, "hello-open", Backend::Floor).and_then(Outcome::cpu_per_instance);
    let above_floor = cpu.zip(floor_cpu).filter(|(_, f)| *f > 0.0);
    line(
        "server CPU per hello orchestration over the RPC floor's (no target: the headroom)",
        format!(
            "{} vs {} ms = {}× the floor; the floor's RPCs are {}% of ours",
            opt(cpu),
            opt(floor_cpu),
            opt(above_floor.map(|(a, f)| a / f)),
            opt(above_floor.map(|(a, f)| f / a * 100.0)),
        ),
        None,
    );
    for (key, name) in [("hello-open", "hello"), ("sequence-open", "sequence")] {
        let a = ours(key).map(|o| o.throughput);
        let b = reference(key).map(|o| o.throughput);
        let r = a.zip(b).map(|(a, b)| a / b);
        line(
            &format!("throughput ≥ 10× the reference on {name}"),
            format!("{} vs {} orch/s = {}×", opt(a), opt(b), opt(r)),
            r.map(|r| r >= 10.0),
        );
    }
    let p50 = ours("hello-closed").map(|o| o.p50_ms);
    line(
        "closed-loop hello p50 ≤ 0.5 ms",
        format!(
            "{} ms (reference {} ms)",
            opt(p50),
            opt(reference("hello-closed").map(|o| o.p50_ms))
        ),
        p50.map(|p| p <= 0.5),
    );
    let biggest = rows
        .iter()
        .filter(|r| r.key.starts_with("scale-hello") && r.backend == Backend::Ours)
        .filter_map(|r| r.outcome.as_ref())
        .max_by_key(|o| o.n);
    let per_kb = biggest.and_then(|o| o.rss_growth_kb().map(|g| g as f64 / o.n.max(1) as f64));
    line(
        "≤ 2 KB RSS per completed hello instance",
        format!(
            "{} KB/instance over {} instances",
            opt(per_kb),
            biggest.map_or(0, |o| o.n)
        ),
        per_kb.map(|k| k <= 2.0),
    );
    let paging = ours("scale-paging");
    let paging_ms = paging.and_then(|o| o.extra.get("paging_ms").copied());
    line(
        "paging 10k instances at 100 per page ≤ 50 ms",
        format!(
            "{} ms for {} instances",
            opt(paging_ms),
            paging.map_or(0, |o| o.n)
        ),
        paging_ms.map(|m| m <= 50.0),
    );
    let timers = ours("scale-timers");
    let fixed = timers.and_then(|o| Some(o.server_threads? == o.server_threads_start?));
    line(
        "100k pending timers on a fixed number of threads",
        format!(
            "{} timers: threads {} → {}",
            timers.map_or(0, |o| o.n),
            count(timers.and_then(|o| o.server_threads_start)),
            count(timers.and_then(|o| o.server_threads)),
        ),
        fixed.map(|f| f && timers.is_some_and(|o| o.ok)),
    );
    let waiters = ours("scale-waiters");
    line(
        "1,000 concurrent waiters complete",
        waiters.map_or_else(String::new, |o| format!("{}/{} returned", o.completed, o.n)),
        waiters.map(|o| o.ok),
    );
    t
}

/// The PostgreSQL runs' CPU: our servers' (summed over both for `ours-pg×2`) and that of the
/// PostgreSQL processes serving the run's database, per orchestration.
pub(crate) fn postgres(rows: &[Row]) -> String {
    let mut t = String::from(
        "| workload | backend | orch/s | servers' CPU ms/orch | PostgreSQL CPU ms/orch | \
         total CPU ms/orch | dup. dispatches | result |\n\
         |---|---|---:|---:|---:|---:|---:|---|\n",
    );
    let on_postgres = |b: Backend| matches!(b, Backend::OursPostgres | Backend::OursPostgresPair);
    for r in rows.iter().filter(|r| on_postgres(r.backend)) {
        let o = r.outcome.as_ref();
        let server = o.and_then(Outcome::cpu_per_instance);
        let postgres = o.and_then(Outcome::postgres_cpu_per_instance);
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.backend.name(),
            opt(o.map(|o| o.throughput)),
            opt(server),
            opt(postgres),
            opt(server.zip(postgres).map(|(s, p)| s + p)),
            duplicates(o),
            verdict(o)
        );
    }
    t
}

/// The durable runs' disk use: bytes of the SQLite file and its log per completed instance.
pub(crate) fn disk(rows: &[Row]) -> String {
    let mut t = String::from(
        "| workload (ours, SQLite) | completed | on disk | per completed instance |\n|---|---:|---:|---:|\n",
    );
    for r in rows.iter().filter(|r| r.backend == Backend::OursSqlite) {
        let (Some(o), Some(bytes)) = (&r.outcome, r.disk_bytes) else {
            continue;
        };
        let per = bytes as f64 / o.completed.max(1) as f64;
        let _ = writeln!(
            t,
            "| {} | {} | {} MB | {} KB |",
            r.label,
            o.completed,
            num(bytes as f64 / 1_048_576.0),
            num(per / 1024.0)
        );
    }
    t
}
