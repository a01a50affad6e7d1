//! Entities: signals run as batches, one batch in flight per entity, failed batches run
//! again, and critical sections exclude other senders.

use crate::prelude::*;

/// Proves **E1**: signals: a signal to `@name@key` runs as an `entityRequestV2` batch whose
/// committed state `get_entity` shows; other ids are `InvalidArgument` and never-seen entities are
/// absent.
pub async fn entity_signal_runs_and_commits_state(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let entity = "@counter@c1";
    let unknown = call!(store.get_entity("@counter@never", true).await);
    ensure!(
        unknown.is_none(),
        "get_entity of a never-seen entity is None, got {unknown:?}"
    );
    match store
        .signal_entity(signal_request("not-an-entity", "add", "r-bad"))
        .await
    {
        Err(StoreError::InvalidArgument(_)) => {}
        other => {
            return Err(failure!(
                "a signal to 'not-an-entity': expected InvalidArgument, got {other:?}"
            ));
        }
    }
    expect_no_item(store, w, "after a signal to an invalid id").await?;

    call!(
        store
            .signal_entity(SignalEntityRequest {
                input: Some("5".to_owned()),
                ..signal_request(entity, "add", "")
            })
            .await
    );
    let batch = next_entity(store, w, entity).await?;
    ensure_eq!(batch.req.entity_state, None, "state of a new entity");
    let [operation] = batch.req.operation_requests.as_slice() else {
        return Err(failure!(
            "one signal makes a batch of one operation, got {:?}",
            op_ids(&batch.req)
        ));
    };
    let Some(EventType::EntityOperationSignaled(signaled)) = &operation.event_type else {
        return Err(failure!(
            "the operation of a signal is an entityOperationSignaled event, got {}",
            kind(operation)
        ));
    };
    ensure_eq!(signaled.operation, "add", "operation of the signal");
    ensure_eq!(signaled.input.as_deref(), Some("5"), "input of the signal");
    ensure!(
        !signaled.request_id.is_empty(),
        "a signal without a requestId gets a generated one, got an empty requestId"
    );
    ensure!(
        signaled
            .target_instance_id
            .as_deref()
            .is_none_or(|t| t == entity),
        "targetInstanceId of the signal is the entity, got {:?}",
        signaled.target_instance_id
    );

    entity_done(store, &batch, Some("5")).await?;
    let meta = call!(store.get_entity(entity, true).await);
    let Some(meta) = meta else {
        return Err(failure!(
            "get_entity('{entity}') is None after a batch committed state"
        ));
    };
    ensure_eq!(meta.instance_id, entity, "instanceId of the entity");
    ensure_eq!(
        meta.serialized_state.as_deref(),
        Some("5"),
        "state after the batch"
    );
    ensure_eq!(
        meta.backlog_queue_size,
        0,
        "backlogQueueSize after the batch"
    );
    ensure!(
        meta.last_modified_time.is_some(),
        "an entity always has a lastModifiedTime"
    );
    ensure_eq!(meta.locked_by, None, "lockedBy of an unlocked entity");
    let bare = call!(store.get_entity(entity, false).await);
    ensure!(
        bare.as_ref()
            .is_some_and(|b| b.serialized_state.is_none() && b.instance_id == entity),
        "get_entity without state shows the entity without its state, got {bare:?}"
    );
    expect_no_item(store, w, "after the batch committed").await
}

/// Proves **E2**, **T4**: one batch in flight per entity: a signal arriving meanwhile waits for the
/// next batch; a batch answered with failureDetails commits nothing and comes back with the same
/// operations.
pub async fn entity_one_batch_in_flight_and_failed_batch_redelivered(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let entity = "@counter@b1";
    call!(store.signal_entity(signal_request(entity, "a", "r1")).await);
    let first = next_entity(store, w, entity).await?;
    ensure_eq!(op_ids(&first.req), ["r1"], "operations of the first batch");
    call!(store.signal_entity(signal_request(entity, "b", "r2")).await);
    expect_no_item(store, w, "a signal while the entity's batch is in flight").await?;
    ensure!(
        entity_state(store, entity).await?.is_none(),
        "an entity with no committed state reads as absent"
    );
    entity_done(store, &first, Some("1")).await?;
    let second = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&second.req),
        ["r2"],
        "operations of the batch after the first completed"
    );
    ensure_eq!(
        second.req.entity_state.as_deref(),
        Some("1"),
        "state handed to the second batch"
    );

    let failed = EntityBatchResult {
        results: vec![op_ok()],
        entity_state: Some("\"bad\"".to_owned()),
        failure_details: Some(TaskFailureDetails {
            error_type: "WorkerError".to_owned(),
            error_message: "the batch could not run".to_owned(),
            ..Default::default()
        }),
        completion_token: second.token.clone(),
        ..Default::default()
    };
    call!(store.complete_entity(failed).await);
    ensure_eq!(
        entity_state(store, entity).await?,
        Some(Some("1".to_owned())),
        "state after a failed batch"
    );
    // The failed batch's lease has ended: a late answer under its token is ignored.
    entity_done(store, &second, Some("\"stale\"")).await?;
    ensure_eq!(
        entity_state(store, entity).await?,
        Some(Some("1".to_owned())),
        "state after an answer under the failed batch's token"
    );
    expect_no_item(store, w, "a failed batch before its back-off").await?;
    t.advance(Duration::from_secs(1)).await?;
    let again = next_entity(store, w, entity).await?;
    ensure!(
        again.token != second.token,
        "the redelivered batch reuses the failed batch's token {}",
        second.token
    );
    ensure_eq!(
        again.req.operation_requests,
        second.req.operation_requests,
        "operations of the redelivered batch"
    );
    ensure_eq!(
        again.req.entity_state.as_deref(),
        Some("1"),
        "state handed to the redelivered batch"
    );
    entity_done(store, &again, Some("2")).await?;
    let meta = call!(store.get_entity(entity, true).await);
    ensure!(
        meta.as_ref().is_some_and(
            |m| m.serialized_state.as_deref() == Some("2") && m.backlog_queue_size == 0
        ),
        "after the redelivered batch: state \"2\" and nothing queued, got {meta:?}"
    );
    expect_no_item(store, w, "after the redelivered batch committed").await
}

/// Proves **E3**: critical sections: an orchestration's lock request is granted in its next work
/// item; while it holds the lock a client's signal is not dispatched; after the unlock it is.
pub async fn entity_lock_excludes_other_senders(t: &Subject) -> Outcome {
    let store = t.store();
    use send_entity_message_action::EntityMessageType as Msg;
    let w = worker(store).await?;
    let id = "locker-1";
    let entity = "@counter@c2";
    let first = start(store, w, id).await?;
    let lock = Msg::EntityLockRequested(EntityLockRequestedEvent {
        critical_section_id: "cs-1".to_owned(),
        lock_set: vec![entity.to_owned()],
        position: 0,
        parent_instance_id: Some(id.to_owned()),
    });
    answer(store, &first, vec![entity_message(1, lock)]).await?;
    let granted = next_orchestration(store, w, id).await?;
    ensure_eq!(
        grants(&granted.req.new_events),
        ["cs-1"],
        "critical sections granted in the work item after the lock request"
    );

    call!(
        store
            .signal_entity(signal_request(entity, "client-op", "client-1"))
            .await
    );
    expect_no_item(
        store,
        w,
        "a client's signal to an entity locked by an orchestration",
    )
    .await?;

    let unlock = Msg::EntityUnlockSent(EntityUnlockSentEvent {
        critical_section_id: "cs-1".to_owned(),
        parent_instance_id: Some(id.to_owned()),
        target_instance_id: Some(entity.to_owned()),
    });
    answer(store, &granted, vec![entity_message(2, unlock)]).await?;
    let batch = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&batch.req),
        ["client-1"],
        "operations dispatched once the lock was released"
    );
    entity_done(store, &batch, Some("1")).await?;
    let meta = call!(store.get_entity(entity, true).await);
    ensure!(
        meta.as_ref().is_some_and(|m| m.locked_by.is_none()
            && m.serialized_state.as_deref() == Some("1")
            && m.backlog_queue_size == 0),
        "after the unlock and the client's batch: unlocked, state \"1\", nothing queued, \
         got {meta:?}"
    );
    expect_no_item(store, w, "after the client's batch").await
}

/// Has orchestration `id` take the lock on `entity` and returns its granted work item.
pub(crate) async fn hold_lock(
    store: &dyn Store,
    w: WorkerId,
    id: &str,
    entity: &str,
) -> Outcome<Orch> {
    let first = start(store, w, id).await?;
    answer(store, &first, vec![lock(1, id, "cs", &[entity])]).await?;
    granted(store, w, id, "cs").await
}

/// Proves **E4** ("purging an entity removes it only when idle and unlocked"): an entity with state
/// that a critical section holds is not purged; once the holder ends, it is.
pub async fn purging_a_locked_entity_is_refused(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let entity = "@purge@held";
    call!(
        store
            .signal_entity(signal_request(entity, "set", "r1"))
            .await
    );
    let batch = next_entity(store, w, entity).await?;
    entity_done(store, &batch, Some("1")).await?;
    let holder = hold_lock(store, w, "purge-holder", entity).await?;
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance(entity.to_owned()), false)
            .await
    );
    ensure_eq!(removed, 0, "purge count of a locked entity");
    ensure_eq!(
        entity_state(store, entity).await?,
        Some(Some("1".to_owned())),
        "state of a locked entity after a purge"
    );
    answer(
        store,
        &holder,
        vec![finish(2, OrchestrationStatus::Completed, None)],
    )
    .await?;
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance(entity.to_owned()), false)
            .await
    );
    ensure_eq!(removed, 1, "purge count once the holder completed");
    ensure_eq!(entity_state(store, entity).await?, None, "a purged entity");
    Ok(())
}

/// Proves **E3** ("locks are released ... when the holder ends (completes, fails, is terminated),
/// continues as new, is replaced ... or reset"): after each of these, a client's signal that waited
/// for the entity runs.
pub async fn locks_are_released_on_every_path(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let paths = [
        "complete",
        "fail",
        "malformed",
        "continue",
        "terminate",
        "replace",
        "reset",
    ];
    for path in paths {
        let id = format!("lock-{path}");
        let entity = format!("@lockpath@{path}");
        let holder = hold_lock(store, w, &id, &entity).await?;
        call!(
            store
                .signal_entity(signal_request(&entity, "op", "client"))
                .await
        );
        expect_no_item(store, w, &format!("a signal to a held entity ({path})")).await?;
        match path {
            "complete" | "fail" | "continue" => {
                let status = match path {
                    "complete" => OrchestrationStatus::Completed,
                    "fail" => OrchestrationStatus::Failed,
                    _ => OrchestrationStatus::ContinuedAsNew,
                };
                answer(store, &holder, vec![finish(2, status, None)]).await?;
            }
            "malformed" => {
                let response = OrchestratorResponse {
                    instance_id: id.clone(),
                    completion_token: holder.token.clone(),
                    actions: vec![OrchestratorAction {
                        id: 2,
                        orchestrator_action_type: None,
                    }],
                    ..Default::default()
                };
                expect_err!(
                    store.complete_orchestration(response).await,
                    InvalidArgument,
                    "a malformed answer of a lock holder"
                );
            }
            "terminate" => {
                answer(store, &holder, Vec::new()).await?;
                call!(store.terminate_instance(&id, None, false).await);
                let ack = next_orchestration(store, w, &id).await?;
                answer(
                    store,
                    &ack,
                    vec![finish(3, OrchestrationStatus::Terminated, None)],
                )
                .await?;
            }
            "replace" => {
                let replace = CreateInstance {
                    replaceable: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
                    ..new_instance(&id, "Conformance", None)
                };
                call!(store.create_instance(replace).await);
            }
            _ => {
                call!(store.reset().await);
                let again = hold_lock(store, w, &id, &entity).await?;
                answer(
                    store,
                    &again,
                    vec![finish(2, OrchestrationStatus::Completed, None)],
                )
                .await?;
                call!(
                    store
                        .signal_entity(signal_request(&entity, "op", "client"))
                        .await
                );
            }
        }
        // The new execution or replacement may be ready too; the entity's batch is the point.
        let batch = drain(store, w)
            .await?
            .into_iter()
            .find(|i| matches!(i.request, Some(work_item::Request::EntityRequestV2(_))));
        let Some(batch) = batch else {
            return Err(failure!(
                "no entity batch once the lock was released ({path})"
            ));
        };
        let batch = into_entity(batch, &entity)?;
        ensure_eq!(
            op_ids(&batch.req),
            ["client"],
            "operations run once the lock was released ({path})"
        );
        entity_done(store, &batch, None).await?;
    }
    Ok(())
}

/// Proves **L5** for entity batches ("a lease expires `lease_duration` after it was granted") and
/// **E2** ("operations run in arrival order"): a batch never answered runs again with the same
/// operations 300 s later under a new token, and the late answer is ignored.
pub async fn entity_batch_lease_expires(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let entity = "@expire@e1";
    call!(store.signal_entity(signal_request(entity, "a", "r1")).await);
    call!(store.signal_entity(signal_request(entity, "b", "r2")).await);
    let first = next_entity(store, w, entity).await?;
    ensure_eq!(op_ids(&first.req), ["r1", "r2"], "operations of the batch");
    t.advance(Duration::from_millis(299_999)).await?;
    expect_no_item(store, w, "1 ms before the batch's lease expires").await?;
    t.advance(Duration::from_millis(1)).await?;
    let again = next_entity(store, w, entity).await?;
    ensure!(
        again.token != first.token,
        "the batch came back under its expired token {}",
        first.token
    );
    ensure_eq!(
        again.req.operation_requests,
        first.req.operation_requests,
        "operations of the batch after its lease expired"
    );
    entity_done(store, &first, Some("\"late\"")).await?;
    ensure_eq!(
        entity_state(store, entity).await?,
        None,
        "state after an answer under the expired token"
    );
    entity_done(store, &again, Some("2")).await?;
    ensure_eq!(
        entity_state(store, entity).await?,
        Some(Some("2".to_owned())),
        "state after the current batch"
    );
    Ok(())
}

/// Answers a batch with failureDetails: the batch failed as a whole.
async fn fail_batch(store: &dyn Store, item: &Ent) -> Outcome {
    let failed = EntityBatchResult {
        failure_details: Some(TaskFailureDetails {
            error_type: "WorkerError".to_owned(),
            error_message: "the batch could not run".to_owned(),
            ..Default::default()
        }),
        completion_token: item.token.clone(),
        ..Default::default()
    };
    call!(store.complete_entity(failed).await);
    Ok(())
}

/// Proves **E2** ("a batch that failed as a whole commits nothing and runs again after a
/// back-off") and **L4** ("doubled for each further abandon of the same item in a row (a
/// completion starts the count afresh)"): an entity's failed batches come back after 1 s, then
/// 2 s; after a batch commits, the next failure waits 1 s again.
pub async fn entity_retry_back_off_starts_afresh_after_a_commit(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let entity = "@retry@r1";
    call!(
        store
            .signal_entity(signal_request(entity, "op", "r1"))
            .await
    );
    let mut batch = next_entity(store, w, entity).await?;
    for seconds in [1, 2] {
        fail_batch(store, &batch).await?;
        t.advance(Duration::from_millis(seconds * 1000 - 1)).await?;
        expect_no_item(store, w, &format!("1 ms before a {seconds} s retry")).await?;
        t.advance(Duration::from_millis(1)).await?;
        batch = next_entity(store, w, entity).await?;
    }
    entity_done(store, &batch, Some("1")).await?;
    call!(
        store
            .signal_entity(signal_request(entity, "op", "r2"))
            .await
    );
    let next = next_entity(store, w, entity).await?;
    fail_batch(store, &next).await?;
    t.advance(Duration::from_secs(1)).await?;
    let again = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&again.req),
        ["r2"],
        "the batch retried 1 s after a commit"
    );
    Ok(())
}

/// Proves **I6** ("terminate-now ends live instances without a worker; instances holding
/// entity locks ... are returned untouched"): while one orchestration holds a lock, it is left
/// alone and reported, and another live instance is terminated.
pub async fn terminate_now_spares_lock_holders(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let holder = hold_lock(store, w, "now-holder", "@now@e1").await?;
    create(store, "now-free").await?;
    let untouched = call!(
        store
            .terminate_now(
                vec!["now-holder".to_owned(), "now-free".to_owned()],
                Some("\"stop\"".to_owned())
            )
            .await
    );
    ensure_eq!(untouched, ["now-holder"], "ids not terminated");
    expect_status(
        store,
        "now-free",
        RuntimeStatus::Terminated,
        "after terminate_now",
    )
    .await?;
    expect_status(
        store,
        "now-holder",
        RuntimeStatus::Running,
        "the lock holder",
    )
    .await?;
    answer(
        store,
        &holder,
        vec![finish(2, OrchestrationStatus::Completed, None)],
    )
    .await?;
    expect_status(
        store,
        "now-holder",
        RuntimeStatus::Completed,
        "after its own answer",
    )
    .await?;
    Ok(())
}

/// Commits a batch of every queued operation of `entity` with the given state.
async fn run_batch(store: &dyn Store, w: WorkerId, entity: &str, state: Option<&str>) -> Outcome {
    let batch = next_entity(store, w, entity).await?;
    entity_done(store, &batch, state).await
}

/// Proves **E5** ("entity queries return entities in id order, filtered by id prefix and
/// last-modified range, paged with the last id as token; stateless entities only on request,
/// state only on request"): five entities of which one is stateless, queried in pages of two.
pub async fn entity_queries_page_and_filter(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let start = t.now();
    for key in ["a", "b", "c", "d"] {
        let entity = format!("@page@{key}");
        call!(
            store
                .signal_entity(signal_request(&entity, "set", ""))
                .await
        );
        run_batch(store, w, &entity, Some(key)).await?;
        t.advance(Duration::from_secs(1)).await?;
    }
    let after_b = start + TimeDelta::seconds(2);
    call!(
        store
            .signal_entity(signal_request("@page@e", "noop", ""))
            .await
    );
    run_batch(store, w, "@page@e", None).await?;
    call!(
        store
            .signal_entity(signal_request("@other@x", "set", ""))
            .await
    );
    run_batch(store, w, "@other@x", Some("x")).await?;

    let mut query = EntityQuery {
        instance_id_starts_with: Some("@page@".to_owned()),
        page_size: Some(2),
        include_state: true,
        ..Default::default()
    };
    let mut pages = Vec::new();
    for _ in 0..5 {
        let page = call!(store.query_entities(query.clone()).await);
        pages.push(
            page.items
                .iter()
                .map(|e| (e.instance_id.clone(), e.serialized_state.clone()))
                .collect::<Vec<_>>(),
        );
        let Some(token) = page.continuation_token else {
            break;
        };
        query.continuation_token = Some(token);
    }
    let some = |id: &str, state: &str| (id.to_owned(), Some(state.to_owned()));
    ensure_eq!(
        pages,
        [
            vec![some("@page@a", "a"), some("@page@b", "b")],
            vec![some("@page@c", "c"), some("@page@d", "d")],
        ],
        "pages of two entities with state, the stateless one left out"
    );
    let transient = call!(
        store
            .query_entities(EntityQuery {
                instance_id_starts_with: Some("@page@".to_owned()),
                include_transient: true,
                ..Default::default()
            })
            .await
    );
    ensure_eq!(
        transient
            .items
            .iter()
            .map(|e| (e.instance_id.as_str(), e.serialized_state.is_some()))
            .collect::<Vec<_>>(),
        [
            ("@page@a", false),
            ("@page@b", false),
            ("@page@c", false),
            ("@page@d", false),
            ("@page@e", false)
        ],
        "all five with includeTransient, no state without includeState"
    );
    ensure_eq!(
        transient.continuation_token,
        None,
        "token of an unpaged query"
    );
    let ranged = call!(
        store
            .query_entities(EntityQuery {
                instance_id_starts_with: Some("@page@".to_owned()),
                last_modified_from: Some(to_timestamp(start)),
                last_modified_to: Some(to_timestamp(after_b)),
                ..Default::default()
            })
            .await
    );
    ensure_eq!(
        ranged
            .items
            .iter()
            .map(|e| e.instance_id.as_str())
            .collect::<Vec<_>>(),
        ["@page@a", "@page@b"],
        "entities last modified in [start, start + 2 s)"
    );
    Ok(())
}

/// Proves **E6** ("cleaning entity storage removes entities with no state, nothing queued and
/// no lock, and reports how many"): of a stateless idle entity, a stateless locked one and one
/// with state, only the first is removed.
pub async fn clean_entity_storage_removes_idle_stateless_entities(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    call!(
        store
            .signal_entity(signal_request("@clean@empty", "noop", ""))
            .await
    );
    run_batch(store, w, "@clean@empty", None).await?;
    call!(
        store
            .signal_entity(signal_request("@clean@full", "set", ""))
            .await
    );
    run_batch(store, w, "@clean@full", Some("1")).await?;
    hold_lock(store, w, "clean-holder", "@clean@locked").await?;
    let (removed, released) = call!(store.clean_entity_storage(true, true).await);
    ensure_eq!(
        (removed, released),
        (1, 0),
        "(entities removed, locks released)"
    );
    let left = call!(
        store
            .query_entities(EntityQuery {
                include_transient: true,
                ..Default::default()
            })
            .await
    );
    ensure_eq!(
        left.items
            .iter()
            .map(|e| e.instance_id.as_str())
            .collect::<Vec<_>>(),
        ["@clean@full", "@clean@locked"],
        "entities left after cleaning"
    );
    let (removed, _) = call!(store.clean_entity_storage(true, false).await);
    ensure_eq!(removed, 0, "entities removed by a second cleaning");
    Ok(())
}

/// Proves **L8** for entities ("a worker is handed only work its filters accept") and **E4**
/// ("purging an entity removes it only when idle"): a worker filtering on one entity name is
/// not handed another's batch; an entity with a batch in flight or operations queued is not
/// purged.
pub async fn entity_filters_and_busy_purges(t: &Subject) -> Outcome {
    let store = t.store();
    let filters = WorkFilters::from(Some(WorkItemFilters {
        entities: vec![EntityFilter {
            name: "mine".to_owned(),
        }],
        ..Default::default()
    }));
    let picky = call!(store.connect_worker(filters.into()).await);
    call!(
        store
            .signal_entity(signal_request("@theirs@1", "op", ""))
            .await
    );
    expect_no_item(store, picky, "a worker filtering on another entity name").await?;
    call!(
        store
            .signal_entity(signal_request("@mine@1", "op", ""))
            .await
    );
    let batch = next_entity(store, picky, "@mine@1").await?;
    let purge = |id: &str| PurgeTarget::Instance(id.to_owned());
    ensure_eq!(
        call!(store.purge_instances(purge("@mine@1"), false).await),
        0,
        "purge count of an entity with a batch in flight"
    );
    entity_done(store, &batch, Some("1")).await?;
    ensure_eq!(
        call!(store.purge_instances(purge("@theirs@1"), false).await),
        0,
        "purge count of an entity with an operation queued"
    );
    ensure_eq!(
        call!(store.purge_instances(purge("@mine@1"), false).await),
        1,
        "purge count of an idle entity"
    );
    Ok(())
}

/// Proves **E7** ("an entity's startNewOrchestration creates the instance, replacing a
/// finished one with the same id and leaving a live one alone"): a batch starting two
/// orchestrations, one over a terminated instance and one over a running one.
pub async fn entities_start_orchestrations(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    start_running(store, w, "from-entity-live").await?;
    create(store, "from-entity-done").await?;
    call!(
        store
            .terminate_instance("from-entity-done", None, false)
            .await
    );
    call!(
        store
            .signal_entity(signal_request("@starter@1", "go", ""))
            .await
    );
    let batch = next_entity(store, w, "@starter@1").await?;
    let start_action = |id: &str| OperationAction {
        id: 0,
        operation_action_type: Some(
            operation_action::OperationActionType::StartNewOrchestration(
                StartNewOrchestrationAction {
                    instance_id: id.to_owned(),
                    name: "FromEntity".to_owned(),
                    input: Some("\"e\"".to_owned()),
                    ..Default::default()
                },
            ),
        ),
    };
    let result = EntityBatchResult {
        results: vec![op_ok()],
        actions: vec![
            start_action("from-entity-done"),
            start_action("from-entity-live"),
        ],
        completion_token: batch.token.clone(),
        ..Default::default()
    };
    call!(store.complete_entity(result).await);
    let started = expect_status(
        store,
        "from-entity-done",
        RuntimeStatus::Pending,
        "replaced",
    )
    .await?;
    ensure_eq!(
        started.name,
        "FromEntity",
        "name of the orchestration the entity started"
    );
    let live = expect_status(
        store,
        "from-entity-live",
        RuntimeStatus::Running,
        "left alone",
    )
    .await?;
    ensure_eq!(live.name, "Conformance", "name of the live instance");
    let item = next_orchestration(store, w, "from-entity-done").await?;
    ensure_eq!(
        execution_started(&item.req.new_events).and_then(|e| e.input.as_deref()),
        Some("\"e\""),
        "input of the orchestration the entity started"
    );
    Ok(())
}

/// Proves **E3** ("while held, only the holder's operations run") with **C1** ("work it made
/// ready is handed out by the next fetch"): an entity that became held while a client's
/// operation waited for it does not keep another entity's ready batch from a worker.
pub async fn a_held_entity_does_not_hold_up_others(t: &Subject) -> Outcome {
    let store = t.store();
    let w = call!(
        store
            .connect_worker(only("Conformance", "NoActivity").into())
            .await
    );
    let entities_only = WorkFilters::from(Some(WorkItemFilters {
        entities: vec![
            EntityFilter {
                name: "held".to_owned(),
            },
            EntityFilter {
                name: "free".to_owned(),
            },
        ],
        ..Default::default()
    }));
    let batches = call!(store.connect_worker(entities_only.into()).await);
    call!(
        store
            .signal_entity(signal_request("@held@1", "op", "client"))
            .await
    );
    hold_lock(store, w, "holder", "@held@1").await?;
    call!(
        store
            .signal_entity(signal_request("@free@1", "op", "other"))
            .await
    );
    let batch = next_entity(store, batches, "@free@1").await?;
    ensure_eq!(
        op_ids(&batch.req),
        ["other"],
        "operations of the free entity's batch"
    );
    expect_no_item(store, batches, "the held entity's client operation").await
}
