//! Time: timers, scheduled starts and delayed signals come due on the store's clock, carried
//! out by `run_due`, never early and never twice.

use crate::prelude::*;

/// Proves **T1** ("timers, delayed starts, delayed signals, lease expiries and back-offs are
/// carried out by `run_due` once the store's clock has reached their time, never before; `run_due`
/// returns how long until the next one") and **T2** ("`schedule_changed` resolves after something
/// was scheduled earlier than anything before it"): a timer due in the past fires on the next
/// `run_due`, one in the future exactly when the clock reaches it, and each `timerFired` carries
/// the `timerId` and the exact `fireAt` it was created with, framed by an `orchestratorStarted` no
/// earlier than the timer.
pub async fn timers_fire_when_due(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "timer-1";
    let first = start(store, w, id).await?;
    // The lease just granted may have signalled the scheduler already; start from quiet.
    let _ = poll_once(std::pin::pin!(store.schedule_changed())).await;
    let past = to_timestamp(t.now() - TimeDelta::milliseconds(1500));
    let future_at: DateTime<Utc> = t.now() + TimeDelta::seconds(30);
    let future = to_timestamp(future_at);
    answer(
        store,
        &first,
        vec![
            create_timer(1, past),
            create_timer(2, future),
            create_timer(3, future),
        ],
    )
    .await?;
    ensure!(
        timeout(ITEM_WAIT, store.schedule_changed()).await.is_ok(),
        "schedule_changed did not resolve after timers were created"
    );
    expect_no_item(store, w, "timers before run_due").await?;

    let next = call!(store.run_due().await);
    ensure_eq!(
        next,
        Some(Duration::from_secs(30)),
        "run_due's time until the second timer"
    );
    let fired = next_orchestration(store, w, id).await?;
    let created: Vec<(i32, Option<prost_types::Timestamp>)> = fired
        .req
        .past_events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::TimerCreated(t)) => Some((e.event_id, t.fire_at)),
            _ => None,
        })
        .collect();
    ensure_eq!(
        created,
        [(1, Some(past)), (2, Some(future)), (3, Some(future))],
        "timerCreated events (eventId, fireAt) in history"
    );
    ensure_eq!(
        kinds(&fired.req.new_events),
        [OS, TF],
        "newEvents delivering the past timer"
    );
    ensure_eq!(
        timers_fired(&fired.req.new_events)
            .first()
            .map(|t| (t.timer_id, t.fire_at)),
        Some((1, Some(past))),
        "the first timerFired (timerId, fireAt)"
    );
    answer(store, &fired, Vec::new()).await?;

    t.advance(Duration::from_millis(29_999)).await?;
    expect_no_item(store, w, "a timer 1 ms before its fireAt").await?;
    t.advance(Duration::from_millis(1)).await?;
    let second = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&second.req.new_events),
        [OS, TF, TF],
        "newEvents delivering the two timers due at the same instant"
    );
    let fired: Vec<(i32, Option<prost_types::Timestamp>)> = timers_fired(&second.req.new_events)
        .into_iter()
        .map(|t| (t.timer_id, t.fire_at))
        .collect();
    ensure_eq!(
        fired,
        [(2, Some(future)), (3, Some(future))],
        "the timerFired events of the two timers due at the same instant (timerId, fireAt)"
    );
    let started_at = second
        .req
        .new_events
        .first()
        .and_then(|e| e.timestamp.as_ref())
        .map(from_timestamp);
    ensure!(
        started_at.is_some_and(|s| s >= future_at),
        "orchestratorStarted {started_at:?} is earlier than the timer it delivers ({future_at})"
    );
    // A timer later than nothing: the scheduler is told. Then one earlier than it: told again.
    let later = to_timestamp(t.now() + TimeDelta::seconds(60));
    answer(store, &second, vec![create_timer(4, later)]).await?;
    ensure!(
        timeout(ITEM_WAIT, store.schedule_changed()).await.is_ok(),
        "schedule_changed did not resolve after a timer was created"
    );
    raise_and_answer(
        store,
        w,
        id,
        vec![create_timer(
            5,
            to_timestamp(t.now() + TimeDelta::seconds(10)),
        )],
    )
    .await?;
    ensure!(
        timeout(ITEM_WAIT, store.schedule_changed()).await.is_ok(),
        "schedule_changed did not resolve after a timer earlier than the pending one"
    );
    ensure_eq!(
        call!(store.run_due().await),
        Some(Duration::from_secs(10)),
        "run_due's time until the earlier timer"
    );
    t.advance(Duration::from_secs(60)).await?;
    let last = next_orchestration(store, w, id).await?;
    ensure_eq!(
        timers_fired(&last.req.new_events)
            .iter()
            .map(|t| t.timer_id)
            .collect::<Vec<_>>(),
        [5, 4],
        "timers 4 and 5 in the order they came due"
    );
    answer(
        store,
        &last,
        vec![finish(6, OrchestrationStatus::Completed, None)],
    )
    .await?;
    t.advance(Duration::from_secs(3600)).await?;
    expect_no_item(store, w, "after both timers fired").await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after its timers fired",
    )
    .await?;
    Ok(())
}

/// Proves **T1** for scheduled starts and **I1** ("an instance with a scheduled start in the future
/// is `Pending` and is not dispatched before it"): the first work item comes when the clock reaches
/// the start, not a millisecond before.
pub async fn scheduled_start_waits_for_its_time(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "scheduled-1";
    let at = t.now() + TimeDelta::seconds(90);
    let request = CreateInstance {
        spec: NewInstance {
            scheduled_start: Some(at),
            ..new_instance(id, "Later", None).spec
        },
        ..Default::default()
    };
    call!(store.create_instance(request).await);
    let state = expect_status(store, id, RuntimeStatus::Pending, "before its start").await?;
    ensure_eq!(
        state.scheduled_start_timestamp.as_ref().map(from_timestamp),
        Some(at),
        "scheduledStartTimestamp"
    );
    expect_no_item(store, w, "an instance scheduled to start later").await?;
    t.advance(Duration::from_millis(89_999)).await?;
    expect_no_item(store, w, "1 ms before the scheduled start").await?;
    t.advance(Duration::from_millis(1)).await?;
    let first = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&first.req.new_events),
        [OS, ES],
        "newEvents of the first work item"
    );
    Ok(())
}

/// Proves **T1** for delayed signals and **E1** ("a signal with a `scheduledTime` ahead of the
/// store's clock is queued at that time and shows it as its `scheduledTime`"): a client's delayed
/// signal runs when the clock reaches its time, after an immediate one sent later.
pub async fn delayed_signal_waits_for_its_time(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let entity = "@counter@later";
    let at = to_timestamp(t.now() + TimeDelta::seconds(45));
    call!(
        store
            .signal_entity(SignalEntityRequest {
                scheduled_time: Some(at),
                ..signal_request(entity, "later", "r-later")
            })
            .await
    );
    expect_no_item(store, w, "a signal scheduled 45 s ahead").await?;
    call!(
        store
            .signal_entity(signal_request(entity, "now", "r-now"))
            .await
    );
    let first = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&first.req),
        ["r-now"],
        "the batch before the delay passed"
    );
    entity_done(store, &first, Some("1")).await?;
    t.advance(Duration::from_millis(44_999)).await?;
    expect_no_item(store, w, "1 ms before the signal's time").await?;
    t.advance(Duration::from_millis(1)).await?;
    let later = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&later.req),
        ["r-later"],
        "the batch once the delay passed"
    );
    let scheduled = later
        .req
        .operation_requests
        .first()
        .and_then(|e| match &e.event_type {
            Some(EventType::EntityOperationSignaled(s)) => s.scheduled_time,
            _ => None,
        });
    ensure_eq!(scheduled, Some(at), "scheduledTime of the delayed signal");
    Ok(())
}

/// Raises an event on `id`, takes the work item it causes and answers it with `actions`, with
/// no signal to the scheduler pending before the answer.
async fn raise_and_answer(
    store: &dyn Store,
    w: WorkerId,
    id: &str,
    actions: Vec<OrchestratorAction>,
) -> Outcome {
    call!(store.raise_event(id, "poke".to_owned(), None).await);
    let item = next_orchestration(store, w, id).await?;
    // Its lease may have signalled the scheduler; what follows must signal on its own.
    let _ = poll_once(std::pin::pin!(store.schedule_changed())).await;
    answer(store, &item, actions).await
}
