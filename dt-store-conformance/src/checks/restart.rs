//! Restart checks (contract D1–D3), for durable stores: each takes a [`Restartable`] and
//! restarts the store where a server would be killed. Not part of [`crate::CHECKS`]: the
//! memory store keeps nothing across a restart.

use crate::prelude::*;
use crate::restart::Restartable;

/// What a client can read of an instance: its state and its history.
async fn read_back(
    store: &dyn Store,
    id: &str,
) -> Outcome<(OrchestrationState, Vec<HistoryEvent>)> {
    let state = get(store, id).await?;
    let history = call!(store.instance_history(id, None).await);
    Ok((state, history))
}

/// Every work item ready now, sorted out by kind: orchestration instance ids, activity
/// names (with instance) and entity ids.
async fn drain(store: &dyn Store, worker: WorkerId) -> Outcome<Vec<WorkItem>> {
    let mut items = Vec::new();
    while let Some(item) = call!(store.try_next_work_item(worker).await) {
        let item = as_sent(item)?;
        checked_token(&item, "a work item after a restart")?;
        items.push(item);
        ensure!(
            items.len() < 100,
            "a store hands out work items without end"
        );
    }
    Ok(items)
}

fn names(items: &[WorkItem]) -> Vec<String> {
    use dt_proto::work_item::Request;
    let mut names: Vec<String> = items
        .iter()
        .map(|item| match &item.request {
            Some(Request::OrchestratorRequest(r)) => format!("orchestration {}", r.instance_id),
            Some(Request::ActivityRequest(a)) => format!("activity {}", a.name),
            Some(Request::EntityRequestV2(e)) => format!("entity {}", e.instance_id),
            _ => describe(item),
        })
        .collect();
    names.sort();
    names
}

/// **D1**: instances (finished, waiting on an activity and a timer, with an event waiting),
/// their histories, entity state, and a delayed signal read back the same after a restart;
/// the work they were waiting for is handed out, and the timer and the signal come when due.
pub async fn restart_keeps_what_was_acknowledged(t: &mut Restartable) -> Outcome {
    let hour = TimeDelta::hours(1);
    {
        let store = t.store();
        let w = worker(store).await?;
        call!(
            store
                .signal_entity(signal_request("@counter@a", "add", "r1"))
                .await
        );
        let batch = next_entity(store, w, "@counter@a").await?;
        entity_done(store, &batch, Some("5")).await?;
        create(store, "done").await?;
        let done = next_orchestration(store, w, "done").await?;
        answer(
            store,
            &done,
            vec![finish(0, OrchestrationStatus::Completed, Some("\"out\""))],
        )
        .await?;
        create(store, "waiting").await?;
        let waiting = next_orchestration(store, w, "waiting").await?;
        let fire_at = to_timestamp(t.now() + hour);
        answer(
            store,
            &waiting,
            vec![
                schedule_task(0, "Slow", Some("\"x\"")),
                create_timer(1, fire_at),
            ],
        )
        .await?;
        // "eventful" is queued (never dispatched yet) with an event behind its start.
        create(store, "eventful").await?;
        call!(
            store
                .raise_event("eventful", "go".to_owned(), Some("1".to_owned()))
                .await
        );
        let mut later = signal_request("@counter@b", "add", "r2");
        later.scheduled_time = Some(to_timestamp(t.now() + TimeDelta::minutes(30)));
        call!(store.signal_entity(later).await);
    }
    let mut before = Vec::new();
    for id in ["done", "waiting", "eventful"] {
        before.push(read_back(t.store(), id).await?);
    }
    let entity_before = entity_state(t.store(), "@counter@a").await?;

    t.restart().await;
    let store = t.store();
    for (id, expected) in ["done", "waiting", "eventful"].iter().zip(&before) {
        let after = read_back(store, id).await?;
        ensure_eq!(
            after.0,
            expected.0,
            "D1: the state of '{id}' after a restart"
        );
        ensure_eq!(
            kinds(&after.1),
            kinds(&expected.1),
            "D1: the history of '{id}' after a restart"
        );
        ensure!(
            after.1 == expected.1,
            "D1: the history of '{id}' changed in a restart"
        );
    }
    ensure_eq!(
        entity_state(store, "@counter@a").await?,
        entity_before,
        "D1: entity state after a restart"
    );
    ensure_eq!(
        entity_state(store, "@counter@a").await?,
        Some(Some("5".to_owned())),
        "D1: entity state after a restart"
    );

    let w = worker(store).await?;
    t.advance(Duration::from_secs(31 * 60)).await?;
    let store = t.store();
    let items = drain(store, w).await?;
    ensure_eq!(
        names(&items),
        [
            "activity Slow",
            "entity @counter@b",
            "orchestration eventful"
        ],
        "D1: the work waiting when the store stopped, and a delayed signal that came due"
    );
    for item in items {
        match &item.request {
            Some(dt_proto::work_item::Request::OrchestratorRequest(r)) => {
                ensure_eq!(
                    kinds(&r.new_events),
                    [OS, ES, ER],
                    "D1: newEvents of 'eventful'"
                );
                answer(store, &into_orchestration(item, "eventful")?, Vec::new()).await?;
            }
            Some(dt_proto::work_item::Request::ActivityRequest(_)) => {
                activity_done(store, &into_activity(item, "waiting")?, "\"slow\"").await?;
            }
            _ => entity_done(store, &into_entity(item, "@counter@b")?, Some("1")).await?,
        }
    }
    let waiting = next_orchestration(store, w, "waiting").await?;
    ensure_eq!(
        kinds(&waiting.req.new_events),
        [OS, TC],
        "D1: the activity's result"
    );
    answer(store, &waiting, Vec::new()).await?;
    t.advance(Duration::from_secs(30 * 60)).await?;
    let store = t.store();
    let waiting = next_orchestration(store, w, "waiting").await?;
    ensure_eq!(
        kinds(&waiting.req.new_events),
        [OS, TF],
        "D1: a timer set before a restart fires at its time"
    );
    Ok(())
}

/// **D2**: an orchestration work item, an activity and an entity batch leased when the store
/// stopped are handed out again after it starts, under new tokens; answers under the old
/// tokens are ignored.
pub async fn restart_hands_out_leased_work_again(t: &mut Restartable) -> Outcome {
    let (orch_token, act_token, entity_token);
    {
        let store = t.store();
        let w = worker(store).await?;
        create(store, "b").await?;
        let b = next_orchestration(store, w, "b").await?;
        answer(store, &b, vec![schedule_task(0, "Work", None)]).await?;
        act_token = next_activity(store, w, "b").await?.token;
        create(store, "a").await?;
        orch_token = next_orchestration(store, w, "a").await?.token;
        call!(
            store
                .signal_entity(signal_request("@e@1", "op", "r1"))
                .await
        );
        entity_token = next_entity(store, w, "@e@1").await?.token;
    }
    t.restart().await;
    let store = t.store();
    let w = worker(store).await?;
    let items = drain(store, w).await?;
    ensure_eq!(
        names(&items),
        ["activity Work", "entity @e@1", "orchestration a"],
        "D2: work leased when the store stopped, handed out again"
    );
    for item in &items {
        ensure!(
            ![&orch_token, &act_token, &entity_token].contains(&&item.completion_token),
            "D2/L1: a token from before the restart was handed out again: {}",
            item.completion_token
        );
    }
    // Answers under the old tokens change nothing.
    let stale = OrchestratorResponse {
        instance_id: "a".to_owned(),
        completion_token: orch_token,
        actions: vec![finish(0, OrchestrationStatus::Completed, Some("\"stale\""))],
        ..Default::default()
    };
    call!(store.complete_orchestration(stale).await);
    let stale = ActivityResponse {
        instance_id: "b".to_owned(),
        task_id: 0,
        result: Some("\"stale\"".to_owned()),
        completion_token: act_token,
        ..Default::default()
    };
    call!(store.complete_activity(stale).await);
    ensure_eq!(
        status_of(&get(store, "a").await?),
        Some(RuntimeStatus::Pending),
        "T4: an answer under a token from before the restart is ignored"
    );
    expect_no_item(store, w, "T4: a stale activity result delivers nothing").await?;
    let mut sorted = items;
    sorted.sort_by_key(|i| names(std::slice::from_ref(i)));
    let act = into_activity(sorted.remove(0), "b")?;
    activity_done(store, &act, "\"fresh\"").await?;
    let b = next_orchestration(store, w, "b").await?;
    ensure_eq!(
        tasks_completed(&b.req.new_events)
            .iter()
            .map(|c| c.result.clone())
            .collect::<Vec<_>>(),
        [Some("\"fresh\"".to_owned())],
        "D2: the activity's result after a restart is applied once"
    );
    Ok(())
}

/// **D3**: an activity whose result was acknowledged before a restart is not handed out
/// again; its result reaches the orchestration, and the activity still unanswered runs.
pub async fn restart_runs_no_answered_activity_again(t: &mut Restartable) -> Outcome {
    {
        let store = t.store();
        let w = worker(store).await?;
        create(store, "a").await?;
        let a = next_orchestration(store, w, "a").await?;
        answer(
            store,
            &a,
            vec![
                schedule_task(0, "First", None),
                schedule_task(1, "Second", None),
            ],
        )
        .await?;
        let first = next_activity(store, w, "a").await?;
        let second = next_activity(store, w, "a").await?;
        let done = if first.req.name == "First" {
            &first
        } else {
            &second
        };
        activity_done(store, done, "\"one\"").await?;
    }
    t.restart().await;
    let store = t.store();
    let w = worker(store).await?;
    let items = drain(store, w).await?;
    ensure_eq!(
        names(&items),
        ["activity Second", "orchestration a"],
        "D3: after a restart only the unanswered activity runs again"
    );
    for item in items {
        if let Some(dt_proto::work_item::Request::OrchestratorRequest(r)) = &item.request {
            ensure_eq!(
                tasks_completed(&r.new_events).len(),
                1,
                "D3: the acknowledged result reaches the orchestration once"
            );
        }
    }
    Ok(())
}

/// **D1** for a new execution: after continue-as-new, a restart reads back the new
/// execution's history only, and the old execution's unanswered activity is gone.
pub async fn restart_keeps_a_new_execution(t: &mut Restartable) -> Outcome {
    let before;
    {
        let store = t.store();
        let w = worker(store).await?;
        create(store, "c").await?;
        let first = next_orchestration(store, w, "c").await?;
        answer(store, &first, vec![schedule_task(0, "Old", None)]).await?;
        call!(store.raise_event("c", "next".to_owned(), None).await);
        // The activity stays queued; the event's turn continues as new.
        let mut second = None;
        for item in drain(store, w).await? {
            if let Some(dt_proto::work_item::Request::OrchestratorRequest(_)) = &item.request {
                second = Some(into_orchestration(item, "c")?);
            }
        }
        let Some(second) = second else {
            return Err(failure!("no work item for the raised event"));
        };
        answer(
            store,
            &second,
            vec![finish(
                1,
                OrchestrationStatus::ContinuedAsNew,
                Some("\"gen2\""),
            )],
        )
        .await?;
        let third = next_orchestration(store, w, "c").await?;
        answer(store, &third, vec![schedule_task(0, "New", None)]).await?;
        before = read_back(store, "c").await?;
    }
    t.restart().await;
    let store = t.store();
    let after = read_back(store, "c").await?;
    ensure_eq!(
        after.0,
        before.0,
        "D1: the state of a continued instance after a restart"
    );
    ensure_eq!(
        kinds(&after.1),
        kinds(&before.1),
        "D1: the history of the new execution after a restart"
    );
    ensure_eq!(
        count(&after.1, ES),
        1,
        "D1: only the new execution's history is kept"
    );
    let w = worker(store).await?;
    ensure_eq!(
        names(&drain(store, w).await?),
        ["activity New"],
        "D1: only the new execution's activity runs after a restart"
    );
    Ok(())
}

/// **D1/D3** for what already happened: a timer that fired and a delayed signal that was
/// delivered before a restart do not fire or arrive again after it.
pub async fn restart_repeats_nothing_that_fired(t: &mut Restartable) -> Outcome {
    {
        let store = t.store();
        let w = worker(store).await?;
        create(store, "sleeper").await?;
        let first = next_orchestration(store, w, "sleeper").await?;
        let fire_at = to_timestamp(t.now() + TimeDelta::minutes(10));
        answer(store, &first, vec![create_timer(0, fire_at)]).await?;
        let mut later = signal_request("@once@a", "ping", "r1");
        later.scheduled_time = Some(to_timestamp(t.now() + TimeDelta::minutes(10)));
        call!(store.signal_entity(later).await);
        t.advance(Duration::from_secs(11 * 60)).await?;
        let store = t.store();
        let items = drain(store, w).await?;
        ensure_eq!(
            names(&items),
            ["entity @once@a", "orchestration sleeper"],
            "the timer and the delayed signal came due"
        );
        for item in items {
            match &item.request {
                Some(dt_proto::work_item::Request::OrchestratorRequest(_)) => {
                    answer(store, &into_orchestration(item, "sleeper")?, Vec::new()).await?;
                }
                _ => entity_done(store, &into_entity(item, "@once@a")?, Some("1")).await?,
            }
        }
    }
    t.restart().await;
    let w = worker(t.store()).await?;
    expect_no_item(
        t.store(),
        w,
        "D1: nothing is ready after a restart once all was done",
    )
    .await?;
    t.advance(Duration::from_secs(3600)).await?;
    expect_no_item(
        t.store(),
        w,
        "D1: a timer that fired and a signal that arrived do not come again after a restart",
    )
    .await?;
    let history = call!(t.store().instance_history("sleeper", None).await);
    ensure_eq!(count(&history, TF), 1, "D1: the timer fired once");
    Ok(())
}

/// **D1** for removals and locks: a purged instance and a purged entity stay gone after a
/// restart, an entity lock held before it is still held (the entity's queued operation waits
/// for the holder to end), and a reset before a restart leaves nothing.
pub async fn restart_keeps_removals_and_locks(t: &mut Restartable) -> Outcome {
    {
        let store = t.store();
        let w = worker(store).await?;
        let holder = super::entities::hold_lock(store, w, "holder", "@locked@1").await?;
        answer(store, &holder, Vec::new()).await?;
        call!(
            store
                .signal_entity(signal_request("@locked@1", "op", "waits"))
                .await
        );
        create(store, "gone").await?;
        let gone = next_orchestration(store, w, "gone").await?;
        answer(
            store,
            &gone,
            vec![finish(0, OrchestrationStatus::Completed, None)],
        )
        .await?;
        call!(
            store
                .signal_entity(signal_request("@purged@1", "set", "r1"))
                .await
        );
        let batch = next_entity(store, w, "@purged@1").await?;
        entity_done(store, &batch, Some("1")).await?;
        for id in ["gone", "@purged@1"] {
            let removed = call!(
                store
                    .purge_instances(PurgeTarget::Instance(id.to_owned()), false)
                    .await
            );
            ensure_eq!(removed, 1, "purge of '{id}'");
        }
        expect_no_item(store, w, "an operation on a held entity waits").await?;
    }
    t.restart().await;
    let store = t.store();
    ensure!(
        call!(store.get_instance("gone", false).await).is_none(),
        "D1: a purged instance stays gone after a restart"
    );
    ensure_eq!(
        entity_state(store, "@purged@1").await?,
        None,
        "D1: a purged entity stays gone after a restart"
    );
    let w = worker(store).await?;
    expect_no_item(
        store,
        w,
        "D1: an entity lock held before a restart is still held",
    )
    .await?;
    call!(store.raise_event("holder", "end".to_owned(), None).await);
    let holder = next_orchestration(store, w, "holder").await?;
    answer(
        store,
        &holder,
        vec![finish(3, OrchestrationStatus::Completed, None)],
    )
    .await?;
    let waiting = next_entity(store, w, "@locked@1").await?;
    ensure_eq!(
        op_ids(&waiting.req),
        ["waits"],
        "D1: the operation that waited for the lock runs once the holder ends"
    );
    entity_done(store, &waiting, None).await?;
    call!(store.reset().await);
    t.restart().await;
    let page = call!(
        t.store()
            .query_instances(InstanceQuery {
                max_instance_count: 100,
                ..Default::default()
            })
            .await
    );
    ensure_eq!(
        page.items.len(),
        0,
        "R1/D1: a reset before a restart leaves no instance"
    );
    Ok(())
}

/// **D1** for a rewritten history: a rewind that keeps its execution id rewrites the history
/// in place (here no shorter than before, with an event changed); a restart reads back the
/// rewritten history, not the old one with the rest appended.
pub async fn restart_keeps_a_rewritten_history(t: &mut Restartable) -> Outcome {
    let id = "rewritten";
    let expected;
    {
        let store = t.store();
        let w = worker(store).await?;
        create(store, id).await?;
        let first = next_orchestration(store, w, id).await?;
        answer(store, &first, vec![schedule_task(0, "Flaky", None)]).await?;
        let act = next_activity(store, w, id).await?;
        activity_done(store, &act, "\"bad\"").await?;
        let second = next_orchestration(store, w, id).await?;
        answer(
            store,
            &second,
            vec![finish(1, OrchestrationStatus::Failed, None)],
        )
        .await?;
        call!(store.rewind_instance(id, Some("retry".to_owned())).await);
        let rewind = next_orchestration(store, w, id).await?;
        // The worker's rewritten history, same execution: the failed end dropped and the
        // activity's result rewritten in place, so it is longer than before but not an append.
        let mut new_history = rewound_history(&rewind);
        for e in &mut new_history {
            if let Some(history_event::EventType::TaskCompleted(done)) = &mut e.event_type {
                done.result = Some("\"rewritten\"".to_owned());
            }
        }
        answer(store, &rewind, vec![rewind_to(new_history)]).await?;
        expected = call!(store.instance_history(id, None).await);
        ensure!(
            expected.len() >= rewind.req.past_events.len(),
            "the rewound history is no shorter than the failed one"
        );
    }
    t.restart().await;
    let after = call!(t.store().instance_history(id, None).await);
    ensure_eq!(
        kinds(&after),
        kinds(&expected),
        "D1: a rewritten history after a restart"
    );
    ensure!(
        after == expected,
        "D1: a rewritten history changed in a restart"
    );
    Ok(())
}
