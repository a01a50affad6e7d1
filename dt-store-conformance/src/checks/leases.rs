//! Leases: every work item handed to one worker at a time, given back on disconnect, abandon
//! or expiry, and filtered by what the worker accepts.

use crate::prelude::*;
use std::pin::pin;

/// Proves **L2**, **L3**, **T4**: disconnecting a worker puts the orchestration and activity it
/// holds back: another worker receives both under new tokens, and late answers from the lost worker
/// are accepted but ignored.
pub async fn disconnect_redelivers(t: &Subject) -> Outcome {
    let store = t.store();
    let a = worker(store).await?;
    let (x, y) = ("lease-x", "lease-y");
    let x1 = start(store, a, x).await?;
    answer(store, &x1, vec![schedule_task(1, "Work", None)]).await?;
    create(store, y).await?;
    let (act_a, y_a) = next_pair(store, a, x, y).await?;

    let b = worker(store).await?;
    call!(store.disconnect_worker(a).await);
    let (act_b, y_b) = next_pair(store, b, x, y).await?;
    ensure_eq!(act_b.req.task_id, 1, "taskId of the redelivered activity");
    ensure!(
        act_b.token != act_a.token && y_b.token != y_a.token,
        "redelivered work items need new tokens: activity {} -> {}, orchestration {} -> {}",
        act_a.token,
        act_b.token,
        y_a.token,
        y_b.token
    );
    ensure_eq!(
        kinds(&y_b.req.new_events),
        [OS, ES],
        "newEvents of the redelivered orchestration work item"
    );

    activity_done(store, &act_a, "\"late\"").await?;
    answer(
        store,
        &y_a,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"late\""))],
    )
    .await?;
    expect_status(
        store,
        y,
        RuntimeStatus::Pending,
        "after a late answer from a disconnected worker",
    )
    .await?;
    expect_no_item(
        store,
        b,
        "a late activity result from a disconnected worker",
    )
    .await?;

    activity_done(store, &act_b, "\"fresh\"").await?;
    let x2 = next_orchestration(store, b, x).await?;
    ensure_eq!(
        kinds(&x2.req.new_events),
        [OS, TC],
        "newEvents after the redelivered activity completed"
    );
    ensure_eq!(
        tasks_completed(&x2.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("\"fresh\""),
        "the result recorded is the current worker's"
    );

    answer(
        store,
        &y_b,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"y\""))],
    )
    .await?;
    let y_done = expect_status(
        store,
        y,
        RuntimeStatus::Completed,
        "after the new worker answered",
    )
    .await?;
    ensure_eq!(y_done.output.as_deref(), Some("\"y\""), "output");
    answer(
        store,
        &x2,
        vec![finish(2, OrchestrationStatus::Completed, None)],
    )
    .await?;
    expect_no_item(store, b, "after both instances completed").await
}

/// Proves **L2**, **L4**, **T4**: abandoning an orchestration, an activity or an entity batch
/// brings it back exactly after the abandon delay (1 s; carried out by `run_due`) under a new
/// token; the abandoned token's answer is ignored.
pub async fn abandon_redelivers(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "abandon-1";
    let first = start(store, w, id).await?;
    call!(store.abandon_orchestration(&first.token).await);
    // The lease ended with the abandon: an answer under its token is ignored.
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"stale\""))],
    )
    .await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Pending,
        "after an answer under an abandoned token",
    )
    .await?;
    t.advance(Duration::from_millis(999)).await?;
    expect_no_item(
        store,
        w,
        "an abandoned orchestration 1 ms before its back-off ends",
    )
    .await?;
    t.advance(Duration::from_millis(1)).await?;
    let again = next_orchestration(store, w, id).await?;
    ensure!(
        again.token != first.token,
        "the redelivered work item reuses the abandoned token {}",
        first.token
    );
    ensure_eq!(
        kinds(&again.req.new_events),
        [OS, ES],
        "newEvents of the redelivered work item"
    );
    ensure!(
        again.req.past_events.is_empty(),
        "nothing was committed, got pastEvents {:?}",
        kinds(&again.req.past_events)
    );

    answer(store, &again, vec![schedule_task(1, "Flaky", None)]).await?;
    let act = next_activity(store, w, id).await?;
    call!(store.abandon_activity(&act.token).await);
    // Ignored as well; if it were applied, the next work item would be the orchestration's.
    activity_done(store, &act, "\"stale\"").await?;
    t.advance(Duration::from_millis(999)).await?;
    expect_no_item(
        store,
        w,
        "an abandoned activity 1 ms before its back-off ends",
    )
    .await?;
    t.advance(Duration::from_millis(1)).await?;
    let act2 = next_activity(store, w, id).await?;
    ensure_eq!(act2.req.task_id, 1, "taskId of the redelivered activity");
    ensure!(
        act2.token != act.token,
        "the redelivered activity reuses the abandoned token {}",
        act.token
    );
    expect_no_item(store, w, "an activity result under an abandoned token").await?;
    activity_done(store, &act2, "\"fresh\"").await?;
    let next = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&next.req.new_events),
        [OS, TC],
        "newEvents after the redelivered activity completed"
    );
    ensure_eq!(
        tasks_completed(&next.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("\"fresh\""),
        "the result recorded is the redelivered attempt's"
    );
    let entity = "@abandon@e1";
    call!(
        store
            .signal_entity(signal_request(entity, "op", "r1"))
            .await
    );
    let batch = next_entity(store, w, entity).await?;
    call!(store.abandon_entity(&batch.token).await);
    entity_done(store, &batch, Some("\"stale\"")).await?;
    t.advance(Duration::from_millis(999)).await?;
    expect_no_item(
        store,
        w,
        "an abandoned entity batch 1 ms before its back-off ends",
    )
    .await?;
    t.advance(Duration::from_millis(1)).await?;
    let again = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&again.req),
        ["r1"],
        "operations of the abandoned batch"
    );
    ensure!(
        again.token != batch.token,
        "the abandoned batch came back under its token {}",
        batch.token
    );
    ensure_eq!(
        entity_state(store, entity).await?,
        None,
        "state after an answer under the abandoned batch's token"
    );
    Ok(())
}

/// Proves **L5** ("a lease expires `lease_duration` after it was granted", with the default 300 s)
/// and **L2** ("work whose lease ended without a completion is dispatched again under a new
/// token"), **T4** ("a completion under a token whose lease has ended is ignored"): an
/// orchestration and an activity never answered come back exactly 300 s after they were handed out,
/// and the late answers are ignored.
pub async fn lease_expiry_redelivers(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let (x, y) = ("expire-x", "expire-y");
    let x1 = start(store, w, x).await?;
    answer(store, &x1, vec![schedule_task(1, "Slow", None)]).await?;
    create(store, y).await?;
    let (act, y1) = next_pair(store, w, x, y).await?;

    ensure_eq!(
        t.config().lease_duration,
        Duration::from_secs(300),
        "the suite's lease length (the default)"
    );
    t.advance(Duration::from_millis(299_999)).await?;
    expect_no_item(store, w, "1 ms before the leases expire").await?;
    t.advance(Duration::from_millis(1)).await?;
    let (act2, y2) = next_pair(store, w, x, y).await?;
    ensure!(
        act2.token != act.token && y2.token != y1.token,
        "work items dispatched again after lease expiry need new tokens: activity {} -> {}, \
         orchestration {} -> {}",
        act.token,
        act2.token,
        y1.token,
        y2.token
    );
    ensure_eq!(act2.req.task_id, 1, "taskId of the redelivered activity");
    ensure_eq!(
        kinds(&y2.req.new_events),
        [OS, ES],
        "newEvents of the redelivered orchestration work item"
    );

    activity_done(store, &act, "\"late\"").await?;
    answer(
        store,
        &y1,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"late\""))],
    )
    .await?;
    expect_status(
        store,
        y,
        RuntimeStatus::Pending,
        "after an answer under an expired lease",
    )
    .await?;
    activity_done(store, &act2, "\"on time\"").await?;
    let x2 = next_orchestration(store, w, x).await?;
    ensure_eq!(
        kinds(&x2.req.new_events),
        [OS, TC],
        "newEvents after the redelivered activity completed"
    );
    ensure_eq!(
        tasks_completed(&x2.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("\"on time\""),
        "the result recorded is the current lease's"
    );
    Ok(())
}

/// Proves **L8**: work-item filters: a worker whose filters name other orchestrations and
/// activities gets nothing, while a matching worker gets the orchestration and then its activity.
pub async fn work_filters(t: &Subject) -> Outcome {
    let store = t.store();
    let other = call!(
        store
            .connect_worker(only("OtherOrchestration", "OtherActivity").into())
            .await
    );
    let matching = call!(
        store
            .connect_worker(only("Wanted", "WantedActivity").into())
            .await
    );
    let id = "filter-1";
    call!(
        store
            .create_instance(new_instance(id, "Wanted", None))
            .await
    );
    expect_no_item(store, other, "a worker filtering on another orchestration").await?;
    let first = next_orchestration(store, matching, id).await?;
    answer(
        store,
        &first,
        vec![schedule_task(1, "WantedActivity", None)],
    )
    .await?;
    expect_no_item(store, other, "a worker filtering on another activity").await?;
    let act = next_activity(store, matching, id).await?;
    ensure_eq!(
        act.req.name,
        "WantedActivity",
        "name of the filtered activity"
    );
    Ok(())
}

/// Proves **L4** ("an abandoned item comes back after `abandon_delay`, doubled for each further
/// abandon of the same item in a row, capped at `max_abandon_delay`") with the defaults (1 s
/// doubling to 60 s): 1, 2, 4, 8, 16, 32, 60, 60 s, never a millisecond early; after a completed
/// turn the next abandon waits 1 s again.
pub async fn abandon_back_off_doubles_up_to_its_cap(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "backoff-1";
    let mut item = start(store, w, id).await?;
    for seconds in [1, 2, 4, 8, 16, 32, 60, 60] {
        call!(store.abandon_orchestration(&item.token).await);
        t.advance(Duration::from_millis(seconds * 1000 - 1)).await?;
        expect_no_item(
            store,
            w,
            &format!("1 ms before a {seconds} s back-off ends"),
        )
        .await?;
        t.advance(Duration::from_millis(1)).await?;
        item = next_orchestration(store, w, id).await?;
    }
    answer(store, &item, Vec::new()).await?;
    call!(store.raise_event(id, "again".to_owned(), None).await);
    let item = next_orchestration(store, w, id).await?;
    call!(store.abandon_orchestration(&item.token).await);
    t.advance(Duration::from_secs(1)).await?;
    next_orchestration(store, w, id).await?;
    Ok(())
}

/// How a check ends a lease without completing it.
#[derive(Clone, Copy, Debug)]
enum GiveBack {
    Disconnect,
    Abandon,
    Expiry,
}

impl GiveBack {
    const ALL: [Self; 3] = [Self::Disconnect, Self::Abandon, Self::Expiry];

    /// Ends `token`'s lease (held by `worker`, expiring in `expires_in`) this way, and lets
    /// any back-off pass.
    async fn end(
        self,
        t: &Subject,
        worker: WorkerId,
        token: &str,
        kind: &str,
        expires_in: Duration,
    ) -> Outcome {
        let store = t.store();
        match self {
            Self::Disconnect => call!(store.disconnect_worker(worker).await),
            Self::Abandon => {
                match kind {
                    "activity" => call!(store.abandon_activity(token).await),
                    _ => call!(store.abandon_orchestration(token).await),
                }
                t.advance(Duration::from_secs(1)).await?;
            }
            Self::Expiry => t.advance(expires_in).await?,
        }
        Ok(())
    }
}

/// Proves **L6** ("work given back belongs to the instance as it was: if the instance was replaced
/// meanwhile, the new execution's work is left alone"): a stale orchestration lease that ends by
/// disconnect, abandon or expiry while the replacement's first work item is in flight does not put
/// the replacement's events back, so it is never dispatched twice, and the replacement's answer
/// commits.
pub async fn given_back_work_leaves_a_replacement_alone(t: &Subject) -> Outcome {
    let store = t.store();
    for how in GiveBack::ALL {
        let id = format!("stale-{how:?}");
        let old_worker = worker(store).await?;
        let new_worker = worker(store).await?;
        // Both executions carry the same caller-chosen execution id: only the incarnation
        // tells them apart.
        let same_execution = Some("exec-reused".to_owned());
        let original = CreateInstance {
            execution_id: same_execution.clone(),
            ..new_instance(&id, "Conformance", None)
        };
        call!(store.create_instance(original).await);
        let old = next_orchestration(store, old_worker, &id).await?;
        // The replacement's lease is granted later, so it outlives the stale one.
        t.advance(Duration::from_secs(100)).await?;
        let replace = CreateInstance {
            replaceable: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
            execution_id: same_execution,
            ..new_instance(&id, "Conformance", Some("\"second\""))
        };
        call!(store.create_instance(replace).await);
        let fresh = next_orchestration(store, new_worker, &id).await?;
        let expires_in = t.config().lease_duration - Duration::from_secs(100);
        how.end(t, old_worker, &old.token, "orchestration", expires_in)
            .await?;
        let why = format!("the replacement after the stale lease ended ({how:?})");
        expect_no_item(store, new_worker, &why).await?;
        answer(
            store,
            &fresh,
            vec![finish(1, OrchestrationStatus::Completed, Some("\"fresh\""))],
        )
        .await?;
        let done = expect_status(store, &id, RuntimeStatus::Completed, &why).await?;
        ensure_eq!(
            done.output.as_deref(),
            Some("\"fresh\""),
            "output ({how:?})"
        );
        call!(store.disconnect_worker(new_worker).await);
        call!(store.disconnect_worker(old_worker).await);
    }
    Ok(())
}

/// Proves **L6** ("work given back belongs to the instance as it was: if the instance ended
/// meanwhile, the work is dropped") and **T6** ("nothing reaches a terminal instance"): an activity
/// whose instance was terminated while it ran is not dispatched again when its lease ends by
/// disconnect, abandon or expiry.
pub async fn given_back_work_of_an_ended_instance_is_dropped(t: &Subject) -> Outcome {
    let store = t.store();
    for how in GiveBack::ALL {
        let id = format!("ended-{how:?}");
        let w = worker(store).await?;
        let first = start(store, w, &id).await?;
        answer(store, &first, vec![schedule_task(1, "Orphan", None)]).await?;
        let act = next_activity(store, w, &id).await?;
        let untouched = call!(store.terminate_now(vec![id.clone()], None).await);
        ensure!(untouched.is_empty(), "terminate_now left {untouched:?}");
        how.end(t, w, &act.token, "activity", t.config().lease_duration)
            .await?;
        let watcher = worker(store).await?;
        let why = format!("an activity of a terminated instance given back ({how:?})");
        expect_no_item(store, watcher, &why).await?;
        call!(store.disconnect_worker(watcher).await);
        call!(store.disconnect_worker(w).await);
    }
    Ok(())
}

fn count_kinds(items: &[WorkItem]) -> (usize, usize, usize) {
    use dt_proto::work_item::Request;
    let of = |f: fn(&Request) -> bool| {
        items
            .iter()
            .filter(|i| i.request.as_ref().is_some_and(f))
            .count()
    };
    (
        of(|r| matches!(r, Request::OrchestratorRequest(_))),
        of(|r| matches!(r, Request::ActivityRequest(_))),
        of(|r| matches!(r, Request::EntityRequestV2(_) | Request::EntityRequest(_))),
    )
}

/// Proves **L7** ("a worker holds at most its limit of each kind; a slot is free again when the
/// lease ends"): a worker limited to one orchestration, one activity and one entity batch is handed
/// exactly one of each while more of each is queued, and the next activity once it completes the
/// one it holds.
pub async fn concurrency_limits_hold_per_kind(t: &Subject) -> Outcome {
    let store = t.store();
    let one_each = WorkLimits {
        orchestrations: Some(1),
        activities: Some(1),
        entities: Some(1),
    };
    let w = limited_worker(store, one_each).await?;
    create(store, "limits-a").await?;
    create(store, "limits-b").await?;
    let first = drain(store, w).await?;
    ensure_eq!(
        count_kinds(&first),
        (1, 0, 0),
        "(orchestrations, activities, entities) handed out with two instances queued"
    );
    let Some(item) = first.into_iter().next() else {
        return Err(failure!("no orchestration work item"));
    };
    let Some(dt_proto::work_item::Request::OrchestratorRequest(req)) = &item.request else {
        return Err(failure!("expected an orchestration work item"));
    };
    let held = Orch {
        req: req.clone(),
        token: item.completion_token.clone(),
    };
    answer(
        store,
        &held,
        vec![schedule_task(1, "A", None), schedule_task(2, "B", None)],
    )
    .await?;
    for entity in ["@limit@1", "@limit@2"] {
        call!(store.signal_entity(signal_request(entity, "op", "")).await);
    }
    let second = drain(store, w).await?;
    ensure_eq!(
        count_kinds(&second),
        (1, 1, 1),
        "(orchestrations, activities, entities) handed out with two of each ready"
    );
    let act = second.into_iter().find(|i| {
        matches!(
            i.request,
            Some(dt_proto::work_item::Request::ActivityRequest(_))
        )
    });
    let Some(act) = act else {
        return Err(failure!("no activity work item"));
    };
    let act = into_activity(act, &held.req.instance_id)?;
    activity_done(store, &act, "1").await?;
    let third = drain(store, w).await?;
    ensure_eq!(
        count_kinds(&third),
        (0, 1, 0),
        "(orchestrations, activities, entities) handed out after the activity completed"
    );
    Ok(())
}

/// Proves **L4** ("an abandoned orchestration is offered first to another connected worker
/// that accepts it") and **W1** ("`next_work_item` waits until an item this worker accepts is
/// ready"): an orchestration abandoned by one worker is not handed back to it while another
/// worker would take it, reaches the other even when the one that gave it back was waiting
/// first, and returns to the giver once no other taker is connected.
pub async fn abandoned_orchestration_goes_to_another_worker_first(t: &Subject) -> Outcome {
    let store = t.store();
    let one = worker(store).await?;
    let other = worker(store).await?;
    let id = "elsewhere-1";
    let item = start(store, one, id).await?;
    call!(store.abandon_orchestration(&item.token).await);
    t.advance(Duration::from_secs(1)).await?;
    expect_no_item(store, one, "the worker that gave the orchestration back").await?;
    let item = next_orchestration(store, other, id).await?;

    call!(store.abandon_orchestration(&item.token).await);
    let mut parked_giver = pin!(store.next_work_item(other));
    let mut parked_one = pin!(store.next_work_item(one));
    for (name, parked) in [
        ("the worker that gave it back", parked_giver.as_mut()),
        ("the other worker", parked_one.as_mut()),
    ] {
        if let Some(early) = poll_once(parked).await {
            return Err(failure!("{name} was handed {early:?} during the back-off"));
        }
    }
    t.advance(Duration::from_secs(2)).await?;
    let item = match timeout(ITEM_WAIT, parked_one).await {
        Ok(Ok(item)) => into_orchestration(as_sent(item)?, id)?,
        other => {
            return Err(failure!(
                "the other worker, waiting for the abandoned orchestration, gave {other:?}"
            ));
        }
    };
    if let Some(taken) = poll_once(parked_giver).await {
        return Err(failure!(
            "the worker that gave the orchestration back was handed {taken:?}"
        ));
    }

    call!(store.abandon_orchestration(&item.token).await);
    call!(store.disconnect_worker(other).await);
    t.advance(Duration::from_secs(4)).await?;
    let again = next_orchestration(store, one, id).await?;
    ensure!(
        again.token != item.token,
        "the orchestration came back under its abandoned token"
    );
    Ok(())
}
