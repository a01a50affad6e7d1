//! What `cargo xtask bench` runs: the side-by-side workloads (run on both backends, some also
//! on our durable stores, open-loop hello also on the RPC floor) and the scale measurements
//! (our server only), at three sizes: `tiny` (the test pipeline's smoke run), `quick` (under 2
//! minutes) and `full`.

/// How big the runs are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Size {
    Tiny,
    Quick,
    Full,
}

/// One driver run on a freshly started server.
pub(crate) struct Case {
    /// Stable name the tables look results up by.
    pub(crate) key: String,
    /// What the tables show.
    pub(crate) label: String,
    /// Arguments for `dt-bench` (besides the address and the server pid).
    pub(crate) args: Vec<String>,
    /// Arguments for the server, besides its port.
    pub(crate) server_args: Vec<String>,
}

pub(crate) fn case(key: &str, label: String, args: &str) -> Case {
    Case {
        key: key.to_owned(),
        label,
        args: words(args),
        server_args: Vec::new(),
    }
}

pub(crate) fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// The workloads run on both backends, in order.
pub(crate) fn side_by_side(size: Size) -> Vec<Case> {
    // (hello open, hello closed, sequence open, sequence closed, fanout, timer, events)
    let (ho, hc, so, sc, fo, t, e) = match size {
        Size::Tiny => (20, 20, 5, 3, 1, 5, 5),
        Size::Quick => (2000, 300, 300, 50, 100, 1000, 1000),
        Size::Full => (10_000, 2000, 2000, 300, 1000, 5000, 5000),
    };
    let (seq, width) = if size == Size::Tiny { (3, 5) } else { (10, 10) };
    vec![
        case(
            "hello-open",
            format!("hello open ×{ho}"),
            &format!("--workload hello --n {ho}"),
        ),
        case(
            "hello-closed",
            format!("hello closed ×{hc}"),
            &format!("--workload hello --mode closed --n {hc}"),
        ),
        case(
            "sequence-open",
            format!("sequence({seq}) open ×{so}"),
            &format!("--workload sequence --seq-len {seq} --n {so}"),
        ),
        case(
            "sequence-closed",
            format!("sequence({seq}) closed ×{sc}"),
            &format!("--workload sequence --seq-len {seq} --mode closed --n {sc}"),
        ),
        case(
            "fanout-open",
            format!("fanout({width}) open ×{fo}"),
            &format!("--workload fanout --fanout {width} --n {fo}"),
        ),
        case(
            "timer-open",
            format!("timer(0 s) open ×{t}"),
            &format!("--workload timer --n {t}"),
        ),
        case(
            "events-open",
            format!("events open ×{e}"),
            &format!("--workload events --n {e}"),
        ),
    ]
}

/// The side-by-side workloads that also run on our server over SQLite (durable): hello open
/// and closed, sequence open, timers.
pub(crate) fn durable(size: Size) -> Vec<Case> {
    const KEYS: [&str; 4] = ["hello-open", "hello-closed", "sequence-open", "timer-open"];
    side_by_side(size)
        .into_iter()
        .filter(|c| KEYS.contains(&c.key.as_str()))
        .collect()
}

/// The side-by-side workloads that also run on our server over PostgreSQL, with one server and
/// with two sharing the database: hello and sequence open (throughput and CPU, PostgreSQL's
/// included).
pub(crate) fn postgres(size: Size) -> Vec<Case> {
    const KEYS: [&str; 2] = ["hello-open", "sequence-open"];
    side_by_side(size)
        .into_iter()
        .filter(|c| KEYS.contains(&c.key.as_str()))
        .collect()
}

/// The side-by-side workloads also run on the RPC floor (at the same size): the open-loop hello,
/// whose server CPU per orchestration the tables compare with the floor's.
pub(crate) fn floor(size: Size) -> Vec<Case> {
    side_by_side(size)
        .into_iter()
        .filter(|c| c.key == "hello-open")
        .collect()
}

/// The scale measurements, on our server only.
pub(crate) fn scale(size: Size) -> Vec<Case> {
    let (hellos, sequences, timers, paging, waiters, wide): (
        &[usize],
        &[(u32, usize)],
        _,
        _,
        _,
        _,
    ) = match size {
        Size::Tiny => (&[20], &[(20, 2)], 50, 20, 20, 50),
        Size::Quick => (
            &[1_000, 10_000],
            &[(10, 100), (100, 10), (1000, 2)],
            10_000,
            10_000,
            1_000,
            10_000,
        ),
        Size::Full => (
            &[1_000, 10_000, 100_000],
            &[(10, 1000), (100, 100), (1000, 10)],
            100_000,
            10_000,
            1_000,
            10_000,
        ),
    };
    let mut cases = Vec::new();
    for n in hellos {
        cases.push(case(
            &format!("scale-hello-{n}"),
            format!("hello open ×{n}"),
            &format!("--workload hello --n {n}"),
        ));
    }
    for (len, n) in sequences {
        cases.push(case(
            &format!("scale-sequence-{len}"),
            format!("sequence({len}) open ×{n}"),
            &format!("--workload sequence --seq-len {len} --n {n} --stall-secs 120"),
        ));
    }
    cases.push(case(
        "scale-timers",
        format!("{timers} pending timers (1 h)"),
        &format!("--workload timers-pending --n {timers}"),
    ));
    cases.push(case(
        "scale-paging",
        format!("QueryInstances over {paging} instances, 100 per page"),
        &format!("--workload paging --n {paging} --page-size 100"),
    ));
    cases.push(case(
        "scale-waiters",
        format!("{waiters} concurrent WaitForInstanceCompletion, 8 workers"),
        &format!("--workload waiters --n {waiters} --streams 8"),
    ));
    let mut skipped = case(
        "scale-skipped-timers",
        format!("{waiters} × 30-day timers, time skipping"),
        &format!("--workload skipped-timers --n {waiters} --streams 8"),
    );
    skipped.server_args = words("--time-skipping");
    cases.push(skipped);
    let mut fanout = case(
        "scale-fanout",
        format!("fan-out of {wide} activities (max history 100000)"),
        &format!("--workload fanout --fanout {wide} --n 1 --stall-secs 120"),
    );
    fanout.server_args = words("--max-history-size 100000");
    cases.push(fanout);
    cases
}
