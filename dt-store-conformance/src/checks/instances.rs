//! Client requests on instances: create, replace, terminate, raise, suspend and resume,
//! restart, rewind, terminate-now.

use crate::prelude::*;

/// Proves **I1**, **I2**: creating an instance: `get_instance` shows it `Pending` with its name,
/// input, version, tags, execution id and creation time; a taken id is `AlreadyExists` unless the
/// reuse policy lists the existing status, in which case a new execution replaces it.
pub async fn create_and_get(t: &Subject) -> Outcome {
    let store = t.store();
    let tags = HashMap::from([("team".to_owned(), "blue".to_owned())]);
    let request = CreateInstance {
        spec: NewInstance {
            id: "create-1".to_owned(),
            name: "Greeter".to_owned(),
            version: Some("1.0".to_owned()),
            input: Some("\"hello\"".to_owned()),
            tags: tags.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let id = call!(store.create_instance(request.clone()).await);
    ensure_eq!(id, "create-1", "create_instance returns the requested id");

    let state = expect_status(store, &id, RuntimeStatus::Pending, "after creation").await?;
    ensure_eq!(state.instance_id, id, "instanceId");
    ensure_eq!(state.name, "Greeter", "name");
    ensure_eq!(state.version.as_deref(), Some("1.0"), "version");
    ensure_eq!(state.input.as_deref(), Some("\"hello\""), "input");
    ensure_eq!(state.output.as_deref(), None, "output of a new instance");
    ensure_eq!(state.tags, tags, "tags");
    ensure!(
        state.completed_timestamp.is_none(),
        "a new instance has no completedTimestamp, got {:?}",
        state.completed_timestamp
    );
    let execution = state.execution_id.clone().unwrap_or_default();
    ensure!(
        !execution.is_empty(),
        "a new instance has an executionId, got {:?}",
        state.execution_id
    );
    ensure_eq!(
        state.created_timestamp.as_ref().map(from_timestamp),
        Some(t.now()),
        "createdTimestamp (the store's clock at creation)"
    );

    let bare = call!(store.get_instance(&id, false).await);
    ensure!(
        bare.as_ref()
            .is_some_and(|b| b.input.is_none() && b.output.is_none() && b.name == "Greeter"),
        "get_instance without payloads omits input and output and keeps the rest, got {bare:?}"
    );
    let unknown = call!(store.get_instance("create-unknown", true).await);
    ensure!(
        unknown.is_none(),
        "get_instance of an unknown id is None, got {unknown:?}"
    );

    let generated = call!(
        store
            .create_instance(new_instance("", "Greeter", None))
            .await
    );
    ensure!(
        !generated.is_empty() && generated != id,
        "an empty id gets a fresh generated one, got '{generated}'"
    );
    ensure!(
        call!(store.get_instance(&generated, false).await).is_some(),
        "the instance with the generated id '{generated}' exists"
    );

    match store.create_instance(request.clone()).await {
        Err(StoreError::AlreadyExists(_)) => {}
        other => {
            return Err(failure!(
                "creating '{id}' again without a reuse policy: expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let terminal_only = CreateInstance {
        replaceable: vec![
            RuntimeStatus::Completed,
            RuntimeStatus::Failed,
            RuntimeStatus::Terminated,
        ],
        ..request.clone()
    };
    match store.create_instance(terminal_only).await {
        Err(StoreError::AlreadyExists(_)) => {}
        other => {
            return Err(failure!(
                "creating '{id}' (Pending) again with only terminal statuses replaceable: \
                 expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let unchanged = get(store, &id).await?;
    ensure_eq!(
        unchanged.execution_id,
        state.execution_id,
        "executionId after a refused create"
    );
    ensure_eq!(
        unchanged.input.as_deref(),
        Some("\"hello\""),
        "input after a refused create"
    );

    let replace = CreateInstance {
        spec: NewInstance {
            input: Some("\"again\"".to_owned()),
            ..request.spec.clone()
        },
        replaceable: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
        ..Default::default()
    };
    let replaced_id = call!(store.create_instance(replace).await);
    ensure_eq!(
        replaced_id,
        id,
        "create_instance replacing an instance returns its id"
    );
    let replaced = expect_status(store, &id, RuntimeStatus::Pending, "after replacement").await?;
    ensure_eq!(
        replaced.input.as_deref(),
        Some("\"again\""),
        "input after replacement"
    );
    ensure!(
        replaced
            .execution_id
            .as_deref()
            .is_some_and(|e| !e.is_empty() && e != execution),
        "a replaced instance gets a new executionId (old {execution}), got {:?}",
        replaced.execution_id
    );

    let chosen = CreateInstance {
        execution_id: Some("exec-chosen".to_owned()),
        ..new_instance("create-2", "Greeter", None)
    };
    call!(store.create_instance(chosen).await);
    let chosen_state = get(store, "create-2").await?;
    ensure_eq!(
        chosen_state.execution_id.as_deref(),
        Some("exec-chosen"),
        "executionId chosen by the caller"
    );
    Ok(())
}

/// Proves **I2**, **L6**, **T4**: replacing an instance whose work item is in flight: the new
/// execution is dispatched on its own, and the old work item's answer is accepted but ignored.
pub async fn replace_drops_in_flight_work(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "replace-1";
    let old = start(store, w, id).await?;
    let replace = CreateInstance {
        replaceable: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
        ..new_instance(id, "Conformance", Some("\"second\""))
    };
    call!(store.create_instance(replace).await);

    let fresh = next_orchestration(store, w, id).await?;
    ensure!(
        fresh.token != old.token,
        "the replacement's work item reuses the old token {}",
        old.token
    );
    ensure_eq!(
        kinds(&fresh.req.new_events),
        [OS, ES],
        "newEvents of the replacement's first work item"
    );
    ensure!(
        fresh.req.past_events.is_empty(),
        "the replacement starts with an empty history, got {:?}",
        kinds(&fresh.req.past_events)
    );
    ensure_eq!(
        execution_started(&fresh.req.new_events).and_then(|e| e.input.as_deref()),
        Some("\"second\""),
        "executionStarted.input of the replacement"
    );
    ensure!(
        fresh.req.execution_id != old.req.execution_id,
        "the replacement has a new executionId, got {:?} again",
        fresh.req.execution_id
    );

    answer(
        store,
        &old,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"stale\""))],
    )
    .await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Pending,
        "after the replaced execution's work item was answered",
    )
    .await?;

    answer(
        store,
        &fresh,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"fresh\""))],
    )
    .await?;
    let done = expect_status(store, id, RuntimeStatus::Completed, "after its own answer").await?;
    ensure_eq!(done.output.as_deref(), Some("\"fresh\""), "output");
    expect_no_item(store, w, "after the replacement completed").await
}

/// Proves **I4**: termination: an instance that never ran is `Terminated` at once with the reason
/// as output; a running (or suspended) one gets a work item with `executionTerminated` and ends
/// when the worker acknowledges it; unknown and terminal instances are left alone without error.
pub async fn terminate_instances(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let pending = "term-pending";
    create(store, pending).await?;
    call!(
        store
            .terminate_instance(pending, Some("\"stop\"".to_owned()), false)
            .await
    );
    let stopped = expect_status(
        store,
        pending,
        RuntimeStatus::Terminated,
        "after terminating it before it ever ran",
    )
    .await?;
    ensure_eq!(
        stopped.output.as_deref(),
        Some("\"stop\""),
        "output (the reason)"
    );
    ensure!(
        stopped.completed_timestamp.is_some(),
        "a terminated instance has a completedTimestamp"
    );
    expect_no_item(store, w, "an instance terminated before it ran").await?;

    let running = "term-running";
    start_running(store, w, running).await?;
    call!(
        store
            .terminate_instance(running, Some("\"bye\"".to_owned()), false)
            .await
    );
    let item = next_orchestration(store, w, running).await?;
    ensure_eq!(
        kinds(&item.req.new_events),
        [OS, ET],
        "newEvents after terminating a running instance"
    );
    let reason = item
        .req
        .new_events
        .iter()
        .find_map(|e| match &e.event_type {
            Some(EventType::ExecutionTerminated(t)) => Some(t.input.clone()),
            _ => None,
        });
    ensure_eq!(
        reason,
        Some(Some("\"bye\"".to_owned())),
        "executionTerminated.input"
    );
    answer(
        store,
        &item,
        vec![finish(1, OrchestrationStatus::Terminated, Some("\"bye\""))],
    )
    .await?;
    let ended = expect_status(
        store,
        running,
        RuntimeStatus::Terminated,
        "after acknowledging",
    )
    .await?;
    ensure_eq!(ended.output.as_deref(), Some("\"bye\""), "output");

    let suspended = "term-suspended";
    start_running(store, w, suspended).await?;
    call!(store.suspend_instance(suspended, None).await);
    let pause = next_orchestration(store, w, suspended).await?;
    answer(store, &pause, Vec::new()).await?;
    expect_status(
        store,
        suspended,
        RuntimeStatus::Suspended,
        "after suspending",
    )
    .await?;
    call!(
        store
            .terminate_instance(suspended, Some("\"anyway\"".to_owned()), false)
            .await
    );
    let item = next_orchestration(store, w, suspended).await?;
    ensure_eq!(
        count(&item.req.new_events, ET),
        1,
        "executionTerminated in {:?} (termination of a suspended instance)",
        kinds(&item.req.new_events)
    );
    answer(
        store,
        &item,
        vec![finish(
            1,
            OrchestrationStatus::Terminated,
            Some("\"anyway\""),
        )],
    )
    .await?;
    expect_status(
        store,
        suspended,
        RuntimeStatus::Terminated,
        "after acknowledging",
    )
    .await?;

    call!(store.terminate_instance("term-unknown", None, false).await);
    ensure!(
        call!(store.get_instance("term-unknown", false).await).is_none(),
        "terminating an unknown instance must not create it"
    );
    call!(
        store
            .terminate_instance(pending, Some("\"again\"".to_owned()), false)
            .await
    );
    let still = expect_status(
        store,
        pending,
        RuntimeStatus::Terminated,
        "after a second terminate",
    )
    .await?;
    ensure_eq!(
        still.output.as_deref(),
        Some("\"stop\""),
        "output after a second terminate"
    );
    expect_no_item(store, w, "terminating a terminal instance").await
}

/// Proves **I3**, **T6**: `raise_event` on an unknown instance is `NotFound`; on a terminal one it
/// succeeds and queues nothing.
pub async fn raise_event_unknown_and_terminal(t: &Subject) -> Outcome {
    let store = t.store();
    match store
        .raise_event("raise-unknown", "e".to_owned(), None)
        .await
    {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "raise_event on an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }
    ensure!(
        call!(store.get_instance("raise-unknown", false).await).is_none(),
        "raising an event must not create the instance"
    );

    let w = worker(store).await?;
    let id = "raise-done";
    let first = start(store, w, id).await?;
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"x\""))],
    )
    .await?;
    call!(
        store
            .raise_event(id, "late".to_owned(), Some("1".to_owned()))
            .await
    );
    expect_no_item(store, w, "an event raised on a completed instance").await?;
    let done = expect_status(store, id, RuntimeStatus::Completed, "after a late event").await?;
    ensure_eq!(done.output.as_deref(), Some("\"x\""), "output");
    Ok(())
}

/// Proves **I3**: suspend and resume pair up: a resume without a suspend queues nothing, a second
/// suspend queues nothing, events for a suspended instance wait for the resume, and a suspend and
/// resume issued back to back reach the worker together.
pub async fn suspend_and_resume(t: &Subject) -> Outcome {
    let store = t.store();
    match store.suspend_instance("suspend-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "suspend_instance on an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }
    match store.resume_instance("suspend-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "resume_instance on an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }

    let w = worker(store).await?;
    let id = "suspend-1";
    start_running(store, w, id).await?;
    call!(store.resume_instance(id, None).await);
    expect_no_item(store, w, "resuming an instance that is not suspended").await?;

    call!(
        store
            .suspend_instance(id, Some("\"pause\"".to_owned()))
            .await
    );
    call!(store.suspend_instance(id, None).await);
    let pause = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&pause.req.new_events),
        [OS, SUSPENDED],
        "newEvents after suspending twice"
    );
    answer(store, &pause, Vec::new()).await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Suspended,
        "after the suspension was committed",
    )
    .await?;

    call!(
        store
            .raise_event(id, "held".to_owned(), Some("7".to_owned()))
            .await
    );
    expect_no_item(store, w, "an event for a suspended instance").await?;
    call!(store.resume_instance(id, Some("\"go\"".to_owned())).await);
    let resumed = next_orchestration(store, w, id).await?;
    let new = &resumed.req.new_events;
    ensure!(
        count(new, ER) == 1 && count(new, RESUMED) == 1 && count(new, SUSPENDED) == 0,
        "after resume expected the held event and one executionResumed, got {:?}",
        kinds(new)
    );
    ensure_eq!(
        events_raised(new).first().map(|e| e.name.as_str()),
        Some("held"),
        "name of the held event"
    );
    answer(store, &resumed, Vec::new()).await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Running,
        "after the resume was committed",
    )
    .await?;

    call!(store.suspend_instance(id, None).await);
    call!(store.resume_instance(id, None).await);
    call!(store.resume_instance(id, None).await);
    let both = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&both.req.new_events),
        [OS, SUSPENDED, RESUMED],
        "newEvents after suspend, resume, resume issued back to back"
    );
    answer(store, &both, Vec::new()).await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Running,
        "after suspend and resume",
    )
    .await?;
    expect_no_item(store, w, "after suspend and resume were committed").await
}

/// Proves **I5**: restart: `FailedPrecondition` for a non-terminal instance, `NotFound` for an
/// unknown one; a terminal instance starts again with its name, version, input and tags, under a
/// new id or (replacing it) under its own id with a new execution.
pub async fn restart_instances(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "restart-1";
    let tags = HashMap::from([("kind".to_owned(), "restart".to_owned())]);
    let request = CreateInstance {
        spec: NewInstance {
            id: id.to_owned(),
            name: "Restartable".to_owned(),
            version: Some("2".to_owned()),
            input: Some("\"original\"".to_owned()),
            tags: tags.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    call!(store.create_instance(request).await);
    for new_id in [false, true] {
        match store.restart_instance(id, new_id).await {
            Err(StoreError::FailedPrecondition(_)) => {}
            other => {
                return Err(failure!(
                    "restart of a Pending instance (new id: {new_id}): expected \
                     FailedPrecondition, got {other:?}"
                ));
            }
        }
    }
    match store.restart_instance("restart-unknown", true).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "restart of an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }

    let first = next_orchestration(store, w, id).await?;
    let old_execution = first.req.execution_id.clone();
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"out\""))],
    )
    .await?;

    let new_id = call!(store.restart_instance(id, true).await);
    ensure!(
        !new_id.is_empty() && new_id != id,
        "restart with a new id returned '{new_id}'"
    );
    let copy = expect_status(store, &new_id, RuntimeStatus::Pending, "after restart").await?;
    ensure_eq!(copy.name, "Restartable", "name of the restarted instance");
    ensure_eq!(
        copy.version.as_deref(),
        Some("2"),
        "version of the restarted instance"
    );
    ensure_eq!(
        copy.input.as_deref(),
        Some("\"original\""),
        "input of the restarted instance"
    );
    ensure_eq!(copy.tags, tags, "tags of the restarted instance");
    expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after restarting it under a new id",
    )
    .await?;
    let copy_first = next_orchestration(store, w, &new_id).await?;
    ensure_eq!(
        execution_started(&copy_first.req.new_events)
            .map(|e| (e.name.as_str(), e.input.as_deref())),
        Some(("Restartable", Some("\"original\""))),
        "executionStarted of the restarted instance"
    );

    let same = call!(store.restart_instance(id, false).await);
    ensure_eq!(same, id, "restart under the same id returns it");
    let again = expect_status(store, id, RuntimeStatus::Pending, "after restart in place").await?;
    ensure!(
        again.execution_id.is_some() && again.execution_id != old_execution,
        "a restart in place starts a new execution, got {:?} (was {old_execution:?})",
        again.execution_id
    );
    ensure_eq!(
        again.input.as_deref(),
        Some("\"original\""),
        "input after restart in place"
    );
    ensure_eq!(
        again.output.as_deref(),
        None,
        "output after restart in place"
    );
    Ok(())
}

/// Proves **I5**: rewind: only a failed instance can be rewound (`NotFound` / `FailedPrecondition`
/// otherwise); a rewound one is `Running` again and its next work item is exactly
/// `[orchestratorStarted, executionRewound]`; the worker's rewritten history becomes the new past,
/// with the execution id stamped into its `executionStarted`.
pub async fn rewind_failed_instance(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "rewind-1";
    match store.rewind_instance("rewind-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "rewind of an unknown id: expected NotFound, got {other:?}"
            ));
        }
    }
    let first = start(store, w, id).await?;
    match store.rewind_instance(id, None).await {
        Err(StoreError::FailedPrecondition(_)) => {}
        other => {
            return Err(failure!(
                "rewind of a pending instance: expected FailedPrecondition, got {other:?}"
            ));
        }
    }
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Failed, None)],
    )
    .await?;
    expect_status(store, id, RuntimeStatus::Failed, "after failing").await?;
    call!(store.rewind_instance(id, Some("retry".to_owned())).await);
    expect_status(store, id, RuntimeStatus::Running, "after rewind").await?;
    let rewind = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&rewind.req.new_events),
        vec![OS, "executionRewound"],
        "newEvents of the rewind work item"
    );
    let mut new_history = rewound_history(&rewind);
    for e in &mut new_history {
        if let Some(history_event::EventType::ExecutionStarted(es)) = &mut e.event_type {
            es.orchestration_instance = Some(OrchestrationInstance {
                instance_id: id.to_owned(),
                execution_id: Some("rewound".to_owned()),
            });
        }
    }
    answer(store, &rewind, vec![rewind_to(new_history.clone())]).await?;
    let replay = next_orchestration(store, w, id).await?;
    ensure_eq!(
        replay.req.past_events,
        new_history,
        "past events after the rewind"
    );
    ensure_eq!(
        kinds(&replay.req.new_events),
        vec![OS],
        "newEvents of the replay"
    );
    ensure_eq!(
        replay.req.execution_id.as_deref(),
        Some("rewound"),
        "execution id after the rewind"
    );
    answer(
        store,
        &replay,
        vec![finish(2, OrchestrationStatus::Completed, Some("1"))],
    )
    .await?;
    expect_status(store, id, RuntimeStatus::Completed, "after the replay").await?;
    Ok(())
}

/// Proves **I6**, **T4**: terminate-now: live instances end `Terminated` at once with the reason as
/// output and no work item; unknown and terminal ids are returned as not terminated; an answer to a
/// work item that was in flight is ignored.
pub async fn terminate_now_skips_the_worker(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let in_flight = start(store, w, "now-in-flight").await?;
    create(store, "now-done").await?;
    let done = next_orchestration(store, w, "now-done").await?;
    answer(
        store,
        &done,
        vec![finish(1, OrchestrationStatus::Completed, None)],
    )
    .await?;
    let untouched = call!(
        store
            .terminate_now(
                vec![
                    "now-in-flight".into(),
                    "now-done".into(),
                    "now-unknown".into()
                ],
                Some("\"stop\"".to_owned())
            )
            .await
    );
    ensure_eq!(
        untouched,
        vec!["now-done".to_owned(), "now-unknown".to_owned()],
        "ids not terminated"
    );
    let state = expect_status(
        store,
        "now-in-flight",
        RuntimeStatus::Terminated,
        "after terminate_now",
    )
    .await?;
    ensure_eq!(
        state.output.as_deref(),
        Some("\"stop\""),
        "output of the terminated instance"
    );
    answer(
        store,
        &in_flight,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"late\""))],
    )
    .await?;
    let state = expect_status(
        store,
        "now-in-flight",
        RuntimeStatus::Terminated,
        "after a late answer",
    )
    .await?;
    ensure_eq!(
        state.output.as_deref(),
        Some("\"stop\""),
        "a late answer changed the output"
    );
    expect_no_item(store, w, "after terminate_now").await
}

/// Proves **I4** ("with `recursive`, its live children are terminated once it ends"): a running
/// parent terminated recursively ends when its worker acknowledges, and then its running child gets
/// `executionTerminated` with the same reason and ends too; without `recursive` a child keeps
/// running.
pub async fn recursive_terminate_reaches_children(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    for (parent, child_id, recursive) in [
        ("rt-parent", "rt-child", true),
        ("nt-parent", "nt-child", false),
    ] {
        let first = start(store, w, parent).await?;
        answer(store, &first, vec![child(1, child_id, "Child")]).await?;
        let child_first = next_orchestration(store, w, child_id).await?;
        answer(store, &child_first, Vec::new()).await?;
        call!(
            store
                .terminate_instance(parent, Some("\"stop\"".to_owned()), recursive)
                .await
        );
        let ack = next_orchestration(store, w, parent).await?;
        ensure_eq!(
            count(&ack.req.new_events, ET),
            1,
            "executionTerminated for the parent"
        );
        answer(
            store,
            &ack,
            vec![finish(1, OrchestrationStatus::Terminated, Some("\"stop\""))],
        )
        .await?;
        expect_status(
            store,
            parent,
            RuntimeStatus::Terminated,
            "after acknowledging",
        )
        .await?;
        if !recursive {
            expect_no_item(
                store,
                w,
                "the child of a parent terminated without recursive",
            )
            .await?;
            expect_status(
                store,
                child_id,
                RuntimeStatus::Running,
                "the child (not recursive)",
            )
            .await?;
            continue;
        }
        let child_ack = next_orchestration(store, w, child_id).await?;
        let reason = child_ack
            .req
            .new_events
            .iter()
            .find_map(|e| match &e.event_type {
                Some(EventType::ExecutionTerminated(t)) => Some(t.input.clone()),
                _ => None,
            });
        ensure_eq!(
            reason,
            Some(Some("\"stop\"".to_owned())),
            "executionTerminated.input of the child"
        );
        answer(
            store,
            &child_ack,
            vec![finish(1, OrchestrationStatus::Terminated, Some("\"stop\""))],
        )
        .await?;
        expect_status(
            store,
            child_id,
            RuntimeStatus::Terminated,
            "the child (recursive)",
        )
        .await?;
    }
    Ok(())
}

/// Proves **I2** ("a child whose id is held by a live instance fails in its parent instead of
/// replacing it; a terminal instance with that id is replaced"): the parent receives
/// `subOrchestrationInstanceFailed` for the taken id and the live instance is untouched; the
/// finished one is replaced by the child.
pub async fn child_with_a_taken_id_fails_in_its_parent(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    start_running(store, w, "taken-live").await?;
    create(store, "taken-done").await?;
    call!(store.terminate_instance("taken-done", None, false).await);
    let parent = start(store, w, "taken-parent").await?;
    answer(
        store,
        &parent,
        vec![
            child(1, "taken-live", "Child"),
            child(2, "taken-done", "Child"),
        ],
    )
    .await?;
    let items = drain(store, w).await?;
    let mut parent_events = Vec::new();
    let mut started_children = Vec::new();
    for item in items {
        match item.request {
            Some(work_item::Request::OrchestratorRequest(r)) if r.instance_id == "taken-parent" => {
                parent_events = r.new_events;
            }
            Some(work_item::Request::OrchestratorRequest(r)) => {
                started_children.push(r.instance_id)
            }
            other => return Err(failure!("unexpected work item {other:?}")),
        }
    }
    ensure_eq!(
        started_children,
        ["taken-done"],
        "children dispatched (the terminal id replaced, the live one not)"
    );
    let failed: Vec<(i32, bool)> = parent_events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::SubOrchestrationInstanceFailed(f)) => Some((
                f.task_scheduled_id,
                f.failure_details
                    .as_ref()
                    .is_some_and(|d| !d.error_type.is_empty() && !d.error_message.is_empty()),
            )),
            _ => None,
        })
        .collect();
    ensure_eq!(
        failed,
        [(1, true)],
        "subOrchestrationInstanceFailed (taskScheduledId, with failure details saying why) for \
         the taken id"
    );
    let live = expect_status(
        store,
        "taken-live",
        RuntimeStatus::Running,
        "the live instance",
    )
    .await?;
    ensure!(
        live.parent_instance_id.is_none(),
        "the live instance got a parent: {live:?}"
    );
    let replaced = get(store, "taken-done").await?;
    ensure_eq!(
        replaced.parent_instance_id.as_deref(),
        Some("taken-parent"),
        "parentInstanceId of the child that replaced the terminal instance"
    );
    Ok(())
}

/// Proves **I5** ("rewind starts a failed instance again; its failed children are rewound and
/// purged ones re-created"): rewinding a parent whose two children failed, one of them purged
/// since, sends the remaining child an `executionRewound` and starts the purged one afresh.
pub async fn rewind_reaches_failed_children(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let parent = "rw-parent";
    let first = start(store, w, parent).await?;
    answer(
        store,
        &first,
        vec![child(1, "rw-kept", "Child"), child(2, "rw-purged", "Child")],
    )
    .await?;
    for id in ["rw-kept", "rw-purged"] {
        let item = next_orchestration(store, w, id).await?;
        answer(
            store,
            &item,
            vec![finish(1, OrchestrationStatus::Failed, None)],
        )
        .await?;
    }
    let second = next_orchestration(store, w, parent).await?;
    answer(
        store,
        &second,
        vec![finish(3, OrchestrationStatus::Failed, None)],
    )
    .await?;
    let purged = call!(
        store
            .purge_instances(PurgeTarget::Instance("rw-purged".to_owned()), false)
            .await
    );
    ensure_eq!(purged, 1, "purge count of a failed child");
    call!(store.rewind_instance(parent, None).await);
    let rewind = next_orchestration(store, w, parent).await?;
    let mut new_history = rewound_history(&rewind);
    new_history.retain(|e| kind(e) != "subOrchestrationInstanceFailed");
    for e in &mut new_history {
        if let Some(EventType::ExecutionStarted(es)) = &mut e.event_type {
            es.orchestration_instance = Some(OrchestrationInstance {
                instance_id: parent.to_owned(),
                execution_id: Some("rw-rewound".to_owned()),
            });
        }
    }
    answer(store, &rewind, vec![rewind_to(new_history)]).await?;
    let mut children = Vec::new();
    for item in drain(store, w).await? {
        if let Some(work_item::Request::OrchestratorRequest(r)) = item.request
            && r.instance_id != parent
        {
            children.push((r.instance_id.clone(), kinds(&r.new_events)));
        }
    }
    children.sort();
    ensure_eq!(
        children,
        [
            ("rw-kept".to_owned(), vec![OS, "executionRewound"]),
            ("rw-purged".to_owned(), vec![OS, ES]),
        ],
        "work items of the children after the parent's rewind"
    );
    Ok(())
}
