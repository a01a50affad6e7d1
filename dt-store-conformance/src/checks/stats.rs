//! Conformance of [`Store::stats`]: counts by status follow every change, work is counted as
//! queued, leased and lost on disconnect, and the counts agree with a query of the instances.

use crate::prelude::*;
use dt_store::{PerKind, STATUSES, StoreStats};

async fn stats(store: &dyn Store) -> Outcome<StoreStats> {
    Ok(call!(store.stats().await))
}

/// Fails unless the counts by status equal what a query of every instance finds.
async fn agrees_with_query(store: &dyn Store, when: &str) -> Outcome<StoreStats> {
    let report = stats(store).await?;
    let all = call!(store.query_instances(InstanceQuery::default()).await);
    for status in STATUSES {
        let found = all
            .items
            .iter()
            .filter(|s| status_of(s) == Some(status))
            .count() as u64;
        ensure_eq!(report.count(status), found, "{status:?} instances {when}");
    }
    ensure_eq!(report.total(), all.items.len() as u64, "instances {when}");
    Ok(report)
}

/// Proves **O1**: `stats` reports instances by status, queued and leased work, connected
/// workers and leases lost on disconnect, each as the store changes.
pub async fn stats_follow_changes(t: &Subject) -> Outcome {
    let store = t.store();
    let empty = agrees_with_query(store, "in an empty store").await?;
    ensure_eq!(empty.workers, 0, "workers of an empty store");
    ensure_eq!(
        empty.queued,
        PerKind::default(),
        "queued work of an empty store"
    );

    let w = worker(store).await?;
    let (a, b, c) = ("stats-a", "stats-b", "stats-c");
    for id in [a, b, c] {
        create(store, id).await?;
    }
    let created = agrees_with_query(store, "after three creates").await?;
    ensure_eq!(
        created.count(RuntimeStatus::Pending),
        3,
        "pending instances"
    );
    ensure_eq!(created.queued.orchestrations, 3, "queued orchestrations");
    ensure_eq!(created.workers, 1, "connected workers");

    call!(store.terminate_instance(c, None, false).await);
    let first = next_orchestration(store, w, a).await?;
    let leased = agrees_with_query(store, "with one work item out").await?;
    ensure_eq!(leased.leased.orchestrations, 1, "leased orchestrations");
    ensure_eq!(leased.queued.orchestrations, 1, "queued orchestrations");
    ensure_eq!(
        leased.count(RuntimeStatus::Terminated),
        1,
        "terminated instances"
    );

    answer(store, &first, vec![schedule_task(1, "Work", None)]).await?;
    let running = agrees_with_query(store, "after a first turn").await?;
    ensure_eq!(
        running.count(RuntimeStatus::Running),
        1,
        "running instances"
    );
    ensure_eq!(running.queued.activities, 1, "queued activities");
    ensure_eq!(running.leased, PerKind::default(), "leased work");

    let (_act, _orch) = next_pair(store, w, a, b).await?;
    let out = stats(store).await?;
    ensure_eq!(
        out.leased,
        PerKind {
            orchestrations: 1,
            activities: 1,
            entities: 0
        },
        "leased work"
    );
    call!(store.disconnect_worker(w).await);
    let lost = stats(store).await?;
    ensure_eq!(lost.workers, 0, "workers after the disconnect");
    ensure_eq!(
        lost.lost_on_disconnect,
        PerKind {
            orchestrations: 1,
            activities: 1,
            entities: 0
        },
        "leases lost on disconnect"
    );
    ensure_eq!(
        lost.leased,
        PerKind::default(),
        "leased work after the disconnect"
    );
    ensure_eq!(lost.queued.activities, 1, "the activity is queued again");
    ensure_eq!(
        lost.queued.orchestrations,
        1,
        "the orchestration is queued again"
    );

    ensure_eq!(
        call!(
            store
                .purge_instances(PurgeTarget::Instance(c.into()), false)
                .await
        ),
        1,
        "purged"
    );
    let purged = agrees_with_query(store, "after a purge").await?;
    ensure_eq!(purged.total(), 2, "instances after the purge");
    call!(store.reset().await);
    let reset = agrees_with_query(store, "after a reset").await?;
    ensure_eq!(
        reset.queued,
        PerKind::default(),
        "queued work after a reset"
    );
    ensure_eq!(
        reset.lost_on_disconnect,
        lost.lost_on_disconnect,
        "leases lost before a reset stay counted (counters since the store was created)"
    );
    Ok(())
}
