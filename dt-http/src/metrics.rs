//! `/metrics`: the store's snapshot and work counts, read at each scrape, and gRPC latency
//! histograms recorded as calls finish. Labels are bounded (status, kind, method, code): no
//! instance ids or names.

use dt_store::{ObservedStore, PerKind, STATUSES, Store, StoreResult, WorkKind};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

type Labels = Vec<(&'static str, String)>;

fn latency_histogram() -> Histogram {
    // 50 µs to about 13 s.
    Histogram::new(exponential_buckets(0.00005, 4.0, 10))
}

/// What `/metrics` reports beyond the store's own numbers. Cheap to clone (shared counters).
#[derive(Clone)]
pub struct Metrics {
    rpc_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    rpc_calls: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            rpc_seconds: Family::new_with_constructor(latency_histogram),
            rpc_calls: Family::default(),
        }
    }
}

impl Metrics {
    /// Records one gRPC call: its method, status code name and latency.
    pub fn record_rpc(&self, method: &str, code: &str, elapsed: Duration) {
        self.rpc_seconds
            .get_or_create(&vec![("method", method.to_owned())])
            .observe(elapsed.as_secs_f64());
        self.rpc_calls
            .get_or_create(&vec![
                ("method", method.to_owned()),
                ("code", code.to_owned()),
            ])
            .inc();
    }

    /// The OpenMetrics text of everything.
    pub(crate) async fn render(&self, store: &ObservedStore) -> StoreResult<String> {
        let stats = store.stats().await?;
        let work = store.work_counts();
        let mut registry = Registry::with_prefix("dt");

        let instances = Family::<Labels, Gauge>::default();
        for status in STATUSES {
            let name = crate::json::Status::from(status).name();
            set(
                &instances,
                vec![("status", name.to_owned())],
                stats.count(status),
            );
        }
        registry.register("instances", "Instances by status", instances);

        let gauges = [
            (
                "work_items_queued",
                "Work items waiting for a worker",
                stats.queued,
            ),
            (
                "work_items_leased",
                "Work items held by workers",
                stats.leased,
            ),
        ];
        for (name, help, counts) in gauges {
            registry.register(name, help, per_kind::<Gauge>(counts, &[]));
        }
        let counters = [
            (
                "work_items_dispatched",
                "Work items handed to workers",
                work.dispatched,
            ),
            (
                "work_items_completed",
                "Work items answered by workers",
                work.completed,
            ),
            (
                "work_items_abandoned",
                "Work items given back by workers",
                work.abandoned,
            ),
        ];
        for (name, help, counts) in counters {
            registry.register(name, help, per_kind::<Counter>(counts, &[]));
        }
        let redelivered = Family::<Labels, Counter>::default();
        for (cause, counts) in [
            ("disconnect", stats.lost_on_disconnect),
            ("expiry", stats.lost_on_expiry),
        ] {
            add_per_kind(&redelivered, counts, &[("cause", cause)]);
        }
        registry.register(
            "work_items_redelivered",
            "Work items dispatched again because their worker disconnected or their lease expired",
            redelivered,
        );

        let scheduled = Gauge::<i64>::default();
        scheduled.set(clamp(stats.scheduled));
        registry.register(
            "scheduled_items",
            "Timers, delayed starts and backoffs waiting for their time",
            scheduled,
        );
        let workers = Gauge::<i64>::default();
        workers.set(clamp(stats.workers));
        registry.register("connected_workers", "Connected worker streams", workers);

        registry.register(
            "grpc_request_duration_seconds",
            "gRPC call latency to the response head, by method",
            self.rpc_seconds.clone(),
        );
        registry.register(
            "grpc_requests",
            "gRPC calls by method and status code",
            self.rpc_calls.clone(),
        );

        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        Ok(text)
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A value a per-kind family can be set to.
trait SetTo: prometheus_client::metrics::TypedMetric + Default {
    fn set_to(&self, n: u64);
}

impl SetTo for Gauge {
    fn set_to(&self, n: u64) {
        self.set(clamp(n));
    }
}

impl SetTo for Counter {
    fn set_to(&self, n: u64) {
        self.inc_by(n);
    }
}

fn set<M: SetTo>(family: &Family<Labels, M>, labels: Labels, n: u64) {
    family.get_or_create(&labels).set_to(n);
}

fn add_per_kind<M: SetTo>(
    family: &Family<Labels, M>,
    counts: PerKind,
    extra: &[(&'static str, &'static str)],
) {
    for kind in WorkKind::ALL {
        let mut labels: Labels = vec![("kind", kind.name().to_owned())];
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        set(family, labels, counts.get(kind));
    }
}

fn per_kind<M: SetTo>(
    counts: PerKind,
    extra: &[(&'static str, &'static str)],
) -> Family<Labels, M> {
    let family = Family::default();
    add_per_kind(&family, counts, extra);
    family
}
