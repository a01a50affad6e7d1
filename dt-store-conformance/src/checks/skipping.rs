//! Time skipping: the view of targets and blockers, and moving the clock while leases stay on
//! real time.

use crate::prelude::*;
use dt_store::{BlockerKind, SkipView};

fn named(view: &SkipView) -> Vec<(BlockerKind, &str)> {
    view.blockers
        .iter()
        .map(|b| (b.kind, b.id.as_str()))
        .collect()
}

/// Proves **S1** ("`skip_view` reports the earliest target ... and the blockers: every work
/// item queued, leased, or waiting out a back-off") and **S2** ("`advance_clock_to` moves the
/// clock forward, never back, and moves every lease expiry and back-off end by the same
/// amount"): a queued and then leased orchestration blocks; once it set a timer the store is
/// idle with the timer as target; a skip of 30 days past a leased item leaves its lease alive,
/// fires the timer on `run_due`, and a target in the past changes nothing.
pub async fn time_skipping_view_and_advance(t: &Subject) -> Outcome {
    let store = t.store();
    let empty = call!(store.skip_view().await);
    ensure_eq!(empty, SkipView::default(), "the view of an empty store");

    let w = worker(store).await?;
    create(store, "skip-a").await?;
    let view = call!(store.skip_view().await);
    ensure_eq!(
        named(&view),
        [(BlockerKind::QueuedOrchestration, "skip-a")],
        "blockers of a created instance"
    );
    let first = next_orchestration(store, w, "skip-a").await?;
    let view = call!(store.skip_view().await);
    ensure_eq!(
        named(&view),
        [(BlockerKind::LeasedOrchestration, "skip-a")],
        "blockers while its work item is leased"
    );
    let due: DateTime<Utc> = t.now() + TimeDelta::hours(1);
    answer(store, &first, vec![create_timer(1, to_timestamp(due))]).await?;
    let view = call!(store.skip_view().await);
    ensure!(
        view.is_idle(),
        "blockers after the turn: {:?}",
        view.blockers
    );
    ensure_eq!(view.next_target, Some(due), "the target: the timer");

    // A second instance's work item stays leased across the skip.
    let held = start(store, w, "skip-b").await?;
    let far = t.now() + TimeDelta::days(30);
    ensure!(
        call!(store.advance_clock_to(far).await),
        "advance_clock_to(+30 days) did not move the clock"
    );
    ensure_eq!(t.now(), far, "the clock after the skip");
    ensure!(
        !call!(store.advance_clock_to(far - TimeDelta::days(1)).await),
        "advance_clock_to a past time claims to have moved the clock"
    );
    ensure_eq!(t.now(), far, "the clock after a skip to the past");
    call!(store.run_due().await);
    let view = call!(store.skip_view().await);
    let mut blockers = named(&view);
    blockers.sort();
    ensure_eq!(
        blockers,
        [
            (BlockerKind::QueuedOrchestration, "skip-a"),
            (BlockerKind::LeasedOrchestration, "skip-b"),
        ],
        "after the skip: the timer fired, the lease is alive"
    );
    ensure_eq!(view.next_target, None, "the target once the timer fired");
    // The lease still answers: its 300 s had not passed in real time.
    answer(store, &held, Vec::new()).await?;
    expect_status(store, "skip-b", RuntimeStatus::Running, "after answering").await?;
    let fired = next_orchestration(store, w, "skip-a").await?;
    ensure_eq!(
        count(&fired.req.new_events, "timerFired"),
        1,
        "timerFired in the work item after the skip"
    );
    Ok(())
}
