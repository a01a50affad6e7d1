//! Turns: a worker's answer to an orchestration work item is committed once, whole, and only
//! for the execution it was dispatched for.

use crate::prelude::*;

/// Proves **C1**, **C2**, **L1**: one activity, start to finish: the first work item is
/// `[orchestratorStarted, executionStarted]`, a `scheduleTask` becomes an activity work item for
/// the same execution, its result arrives as `taskCompleted` after the committed history, and
/// `completeOrchestration` ends the instance with its output, a completion time and the documented
/// history layout.
pub async fn activity_round_trip(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "flow-1";
    call!(
        store
            .create_instance(new_instance(id, "Flow", Some("\"in\"")))
            .await
    );
    let execution = get(store, id).await?.execution_id.unwrap_or_default();

    let first = next_orchestration(store, w, id).await?;
    ensure_eq!(
        first.req.execution_id.as_deref(),
        Some(execution.as_str()),
        "executionId of the first work item"
    );
    ensure!(
        first.req.past_events.is_empty(),
        "the first work item has no pastEvents, got {:?}",
        kinds(&first.req.past_events)
    );
    ensure_eq!(
        kinds(&first.req.new_events),
        [OS, ES],
        "newEvents of the first work item"
    );
    let started = execution_started(&first.req.new_events);
    ensure_eq!(
        started.map(|s| (s.name.as_str(), s.input.as_deref())),
        Some(("Flow", Some("\"in\""))),
        "executionStarted name and input"
    );
    ensure_eq!(
        started
            .and_then(|s| s.orchestration_instance.as_ref())
            .map(|i| (i.instance_id.as_str(), i.execution_id.as_deref())),
        Some((id, Some(execution.as_str()))),
        "executionStarted.orchestrationInstance"
    );

    answer(store, &first, vec![schedule_task(1, "Double", Some("21"))]).await?;
    let act = next_activity(store, w, id).await?;
    ensure!(
        act.token != first.token,
        "the activity work item reuses the token {}",
        first.token
    );
    ensure_eq!(act.req.task_id, 1, "taskId of the activity work item");
    ensure_eq!(act.req.name, "Double", "name of the activity work item");
    ensure_eq!(
        act.req.input.as_deref(),
        Some("21"),
        "input of the activity work item"
    );
    ensure_eq!(
        act.req
            .orchestration_instance
            .as_ref()
            .and_then(|i| i.execution_id.as_deref()),
        Some(execution.as_str()),
        "orchestrationInstance.executionId of the activity work item"
    );

    activity_done(store, &act, "42").await?;
    let second = next_orchestration(store, w, id).await?;
    ensure!(
        second.token != first.token && second.token != act.token,
        "the second orchestration work item reuses a token ({})",
        second.token
    );
    ensure_eq!(
        kinds(&second.req.past_events),
        [OS, ES, TS, OC],
        "pastEvents of the second work item"
    );
    ensure_eq!(
        second.req.past_events.get(2).map(|e| e.event_id),
        Some(1),
        "eventId of taskScheduled (the action id)"
    );
    ensure_eq!(
        kinds(&second.req.new_events),
        [OS, TC],
        "newEvents of the second work item"
    );
    ensure_eq!(
        tasks_completed(&second.req.new_events)
            .first()
            .map(|t| (t.task_scheduled_id, t.result.as_deref())),
        Some((1, Some("42"))),
        "taskCompleted taskScheduledId and result"
    );

    answer(
        store,
        &second,
        vec![finish(2, OrchestrationStatus::Completed, Some("\"done\""))],
    )
    .await?;
    let done = expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after completeOrchestration",
    )
    .await?;
    ensure_eq!(done.output.as_deref(), Some("\"done\""), "output");
    ensure!(
        done.failure_details.is_none(),
        "a completed instance has no failureDetails, got {:?}",
        done.failure_details
    );
    ensure_eq!(
        done.completed_timestamp.as_ref().map(from_timestamp),
        Some(t.now()),
        "completedTimestamp (the store's clock at completion)"
    );

    match timeout(
        ITEM_WAIT,
        store.wait_for_instance(id, WaitCondition::Completed, true),
    )
    .await
    {
        Ok(Ok(state)) => {
            ensure_eq!(
                status_of(&state),
                Some(RuntimeStatus::Completed),
                "status returned by wait_for_instance"
            );
            ensure_eq!(
                state.output.as_deref(),
                Some("\"done\""),
                "output returned by wait_for_instance"
            );
        }
        Ok(Err(err)) => return Err(failure!("wait_for_instance failed: {err:?}")),
        Err(_) => {
            return Err(failure!(
                "wait_for_instance(Completed) on a completed instance did not return"
            ));
        }
    }

    let history = call!(store.instance_history(id, Some(&execution)).await);
    ensure_eq!(
        kinds(&history),
        [OS, ES, TS, OC, OS, TC, OC, EC],
        "committed history"
    );
    match store.instance_history("flow-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "instance_history of an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }
    expect_no_item(store, w, "after the instance completed").await
}

/// Proves **T3**, **I3**: one orchestration work item in flight per instance: events raised
/// meanwhile are not dispatched to any worker until the item is answered, then arrive together, in
/// order.
pub async fn one_orchestration_in_flight(t: &Subject) -> Outcome {
    let store = t.store();
    let w1 = worker(store).await?;
    let w2 = worker(store).await?;
    let id = "inflight-1";
    let first = start(store, w1, id).await?;
    call!(
        store
            .raise_event(id, "approval".to_owned(), Some("true".to_owned()))
            .await
    );
    call!(store.raise_event(id, "note".to_owned(), None).await);
    expect_no_item(
        store,
        w2,
        "events raised while a work item is in flight (other worker)",
    )
    .await?;
    expect_no_item(
        store,
        w1,
        "events raised while a work item is in flight (same worker)",
    )
    .await?;

    answer(store, &first, Vec::new()).await?;
    let next = next_orchestration(store, w2, id).await?;
    ensure_eq!(
        kinds(&next.req.past_events),
        [OS, ES, OC],
        "pastEvents after an empty first turn"
    );
    ensure_eq!(
        kinds(&next.req.new_events),
        [OS, ER, ER],
        "newEvents carrying the events raised meanwhile"
    );
    let raised: Vec<(&str, Option<&str>)> = events_raised(&next.req.new_events)
        .into_iter()
        .map(|e| (e.name.as_str(), e.input.as_deref()))
        .collect();
    ensure_eq!(
        raised,
        [("approval", Some("true")), ("note", None)],
        "raised events, in arrival order"
    );
    Ok(())
}

/// Proves **T4**: a completion delivered twice with the same token (a retrying worker) is applied
/// once and the duplicate is answered with success.
pub async fn duplicate_completions_apply_once(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "dup-1";
    let first = start(store, w, id).await?;
    answer(store, &first, vec![schedule_task(1, "Once", None)]).await?;
    answer(
        store,
        &first,
        vec![
            schedule_task(1, "Once", None),
            schedule_task(2, "Twice", None),
        ],
    )
    .await?;
    let act = next_activity(store, w, id).await?;
    ensure_eq!(
        (act.req.task_id, act.req.name.as_str()),
        (1, "Once"),
        "the activity scheduled by the first answer"
    );
    expect_no_item(store, w, "a duplicate orchestration completion").await?;

    activity_done(store, &act, "1").await?;
    activity_done(store, &act, "2").await?;
    let second = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&second.req.past_events),
        [OS, ES, TS, OC],
        "history after a duplicated orchestration completion"
    );
    ensure_eq!(
        kinds(&second.req.new_events),
        [OS, TC],
        "newEvents after a duplicated activity completion"
    );
    ensure_eq!(
        tasks_completed(&second.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("1"),
        "the first activity result is the one recorded"
    );

    answer(
        store,
        &second,
        vec![finish(2, OrchestrationStatus::Completed, Some("\"ok\""))],
    )
    .await?;
    answer(
        store,
        &second,
        vec![finish(2, OrchestrationStatus::Failed, None)],
    )
    .await?;
    let done = expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after a duplicate answer",
    )
    .await?;
    ensure_eq!(done.output.as_deref(), Some("\"ok\""), "output");
    expect_no_item(store, w, "after the instance completed").await
}

/// Proves **T5**, **C3**: an answer that cannot be applied (an action without a type) is
/// `InvalidArgument` and fails the orchestration visibly instead of leaving it in flight.
pub async fn malformed_answer_fails_orchestration(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "malformed-1";
    let first = start(store, w, id).await?;
    let response = OrchestratorResponse {
        instance_id: id.to_owned(),
        completion_token: first.token.clone(),
        actions: vec![OrchestratorAction {
            id: 1,
            orchestrator_action_type: None,
        }],
        ..Default::default()
    };
    match store.complete_orchestration(response).await {
        Err(StoreError::InvalidArgument(_)) => {}
        other => {
            return Err(failure!(
                "an action without a type: expected InvalidArgument, got {other:?}"
            ));
        }
    }
    let failed =
        expect_status(store, id, RuntimeStatus::Failed, "after a malformed answer").await?;
    ensure!(
        failed
            .failure_details
            .as_ref()
            .is_some_and(|d| d.is_non_retriable
                && !d.error_type.is_empty()
                && !d.error_message.is_empty()),
        "a malformed answer fails the instance with non-retriable failureDetails saying why, \
         got {:?}",
        failed.failure_details
    );
    expect_no_item(store, w, "after the instance failed").await
}

/// Proves **T4**: chunked answers: chunks marked partial are held under their token and applied
/// once with the last chunk, in order; a repeated chunk index is ignored.
#[allow(deprecated)] // isPartial / chunkIndex are deprecated on the wire but still sent
pub async fn partial_chunks_apply_once(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "chunks-1";
    let first = start(store, w, id).await?;
    let chunk =
        |index: i32, partial: bool, actions: Vec<OrchestratorAction>| OrchestratorResponse {
            instance_id: id.to_owned(),
            completion_token: first.token.clone(),
            actions,
            is_partial: partial,
            chunk_index: Some(index),
            ..Default::default()
        };
    call!(
        store
            .complete_orchestration(chunk(0, true, vec![schedule_task(1, "A", None)]))
            .await
    );
    call!(
        store
            .complete_orchestration(chunk(0, true, vec![schedule_task(1, "A", None)]))
            .await
    );
    expect_no_item(store, w, "before the last chunk").await?;
    call!(
        store
            .complete_orchestration(chunk(1, false, vec![schedule_task(2, "B", None)]))
            .await
    );
    let a = next_activity(store, w, id).await?;
    let b = next_activity(store, w, id).await?;
    let mut ids = [a.req.task_id, b.req.task_id];
    ids.sort_unstable();
    ensure_eq!(ids, [1, 2], "task ids scheduled by the chunks");
    expect_no_item(store, w, "after both activities").await?;
    let history = call!(store.instance_history(id, None).await);
    ensure_eq!(count(&history, TS), 2, "taskScheduled events in history");
    Ok(())
}

/// Proves **T6**, **T1**: a timer of an execution that has since continued as new is dropped when
/// it comes due: the new execution never sees its `timerFired`.
pub async fn timer_of_previous_execution_dropped(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "timer-can";
    let first = start(store, w, id).await?;
    let old_execution = first.req.execution_id.clone();
    let fire_at = to_timestamp(t.now() + TimeDelta::seconds(10));
    answer(store, &first, vec![create_timer(1, fire_at)]).await?;
    call!(store.raise_event(id, "restart".to_owned(), None).await);
    let second = next_orchestration(store, w, id).await?;
    ensure!(
        count(&second.req.new_events, ER) == 1,
        "newEvents carry the raised event, got {:?}",
        kinds(&second.req.new_events)
    );
    answer(
        store,
        &second,
        vec![finish(
            2,
            OrchestrationStatus::ContinuedAsNew,
            Some("\"gen2\""),
        )],
    )
    .await?;

    let third = next_orchestration(store, w, id).await?;
    ensure!(
        third.req.execution_id.is_some() && third.req.execution_id != old_execution,
        "continue-as-new starts a new execution, got executionId {:?} (was {old_execution:?})",
        third.req.execution_id
    );
    ensure!(
        third.req.past_events.is_empty(),
        "a new execution starts with an empty history, got {:?}",
        kinds(&third.req.past_events)
    );
    ensure_eq!(
        kinds(&third.req.new_events),
        [OS, ES],
        "newEvents of the new execution"
    );
    ensure_eq!(
        execution_started(&third.req.new_events).and_then(|e| e.input.as_deref()),
        Some("\"gen2\""),
        "executionStarted.input of the new execution"
    );
    answer(store, &third, Vec::new()).await?;

    t.advance(Duration::from_secs(10)).await?;
    expect_no_item(store, w, "a timer of the previous execution came due").await?;
    let state = expect_status(store, id, RuntimeStatus::Running, "after continue-as-new").await?;
    ensure_eq!(
        state.execution_id,
        third.req.execution_id,
        "executionId after continue-as-new"
    );
    let history = call!(store.instance_history(id, None).await);
    ensure_eq!(
        count(&history, TF),
        0,
        "timerFired events in the new execution's history {:?}",
        kinds(&history)
    );
    Ok(())
}

/// Proves **T6**: an activity result for an execution that has since continued as new is accepted
/// and dropped: the new execution never sees it.
pub async fn activity_of_previous_execution_dropped(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "act-can";
    let first = start(store, w, id).await?;
    answer(store, &first, vec![schedule_task(1, "Old", None)]).await?;
    let act = next_activity(store, w, id).await?;
    call!(store.raise_event(id, "restart".to_owned(), None).await);
    let second = next_orchestration(store, w, id).await?;
    answer(
        store,
        &second,
        vec![finish(
            2,
            OrchestrationStatus::ContinuedAsNew,
            Some("\"gen2\""),
        )],
    )
    .await?;
    let third = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&third.req.new_events),
        [OS, ES],
        "newEvents of the new execution"
    );
    answer(store, &third, Vec::new()).await?;

    activity_done(store, &act, "\"stale\"").await?;
    expect_no_item(store, w, "an activity result for the previous execution").await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Running,
        "after a stale activity result",
    )
    .await?;
    let history = call!(store.instance_history(id, None).await);
    ensure_eq!(
        count(&history, TC),
        0,
        "taskCompleted events in the new execution's history {:?}",
        kinds(&history)
    );
    Ok(())
}

/// Proves **T7** ("a worker that streams history gets work items without past events when the
/// history's encoded size exceeds `history_streaming_threshold`, marked to fetch them; other
/// workers always get the whole history"): with a history of about 1.1 MB (the threshold is
/// 1 MiB), a streaming worker's work item is marked `requiresHistoryStreaming` with no past
/// events, while a small history is sent whole to it, and a big one to a worker that does not
/// stream.
pub async fn big_histories_are_left_to_streaming_workers(t: &Subject) -> Outcome {
    let store = t.store();
    let plain = worker(store).await?;
    let options = WorkerOptions {
        history_streaming: true,
        ..WorkFilters::all().into()
    };
    let streaming = call!(store.connect_worker(options).await);
    let big = "x".repeat(1_100_000);
    for (id, input, streams) in [
        ("small-history", "1", false),
        ("big-history", big.as_str(), true),
    ] {
        let first = start(store, plain, id).await?;
        answer(store, &first, vec![schedule_task(1, "Big", Some(input))]).await?;
        let act = next_activity(store, plain, id).await?;
        activity_done(store, &act, "1").await?;
        let item = next_orchestration(store, streaming, id).await?;
        ensure_eq!(
            item.req.requires_history_streaming,
            streams,
            "requiresHistoryStreaming for '{id}'"
        );
        ensure_eq!(
            item.req.past_events.is_empty(),
            streams,
            "pastEvents left out for '{id}'"
        );
        answer(store, &item, vec![schedule_task(2, "Again", None)]).await?;
        let act = next_activity(store, plain, id).await?;
        activity_done(store, &act, "2").await?;
        let whole = next_orchestration(store, plain, id).await?;
        ensure!(
            !whole.req.requires_history_streaming && count(&whole.req.past_events, TS) == 2,
            "a worker that does not stream gets the whole history of '{id}', got {:?}",
            kinds(&whole.req.past_events)
        );
    }
    Ok(())
}

/// Proves **T6** ("the history cap fails an execution that would grow past it, but never a
/// turn that continues as new") with the default cap of 10,000 events: a first turn that
/// fills the history exactly to the cap completes, one event more fails the instance saying
/// why, and that same turn ending in continue-as-new starts the next execution instead.
pub async fn history_cap_spares_continue_as_new(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let cap = t.config().max_history_size;
    // A first turn commits orchestratorStarted and executionStarted, one eventSent per
    // action, orchestratorCompleted and executionCompleted: `sends + 4` events.
    let Some(fits) = cap.checked_sub(4) else {
        return Err(failure!(
            "max_history_size {cap} is too small for this check"
        ));
    };
    let turn = |sends: usize, end: OrchestrationStatus| {
        let mut actions: Vec<OrchestratorAction> = (1..=sends)
            .map(|i| send_event(i as i32, "cap-nobody", "e"))
            .collect();
        actions.push(finish(sends as i32 + 1, end, None));
        actions
    };

    let at_cap = start(store, w, "cap-exact").await?;
    answer(store, &at_cap, turn(fits, OrchestrationStatus::Completed)).await?;
    expect_status(store, "cap-exact", RuntimeStatus::Completed, "at the cap").await?;

    let over = start(store, w, "cap-over").await?;
    answer(store, &over, turn(fits + 1, OrchestrationStatus::Completed)).await?;
    let failed = expect_status(store, "cap-over", RuntimeStatus::Failed, "past the cap").await?;
    ensure!(
        failed
            .failure_details
            .as_ref()
            .is_some_and(|d| d.is_non_retriable && !d.error_message.is_empty()),
        "a turn past the cap fails with non-retriable failureDetails saying why, got {:?}",
        failed.failure_details
    );

    let id = "cap-continue";
    let first = start(store, w, id).await?;
    let old_execution = first.req.execution_id.clone();
    answer(
        store,
        &first,
        turn(fits + 1, OrchestrationStatus::ContinuedAsNew),
    )
    .await?;
    let next = next_orchestration(store, w, id).await?;
    ensure!(
        next.req.execution_id.is_some() && next.req.execution_id != old_execution,
        "continue-as-new past the cap starts a new execution, got executionId {:?} (was {:?})",
        next.req.execution_id,
        old_execution
    );
    ensure_eq!(
        kinds(&next.req.new_events),
        [OS, ES],
        "newEvents of the execution after continue-as-new past the cap"
    );
    expect_status(
        store,
        id,
        RuntimeStatus::Running,
        "after continue-as-new past the cap",
    )
    .await?;
    Ok(())
}
