//! Reset: everything goes, workers stay connected, tokens stay unique.

use crate::prelude::*;

/// Proves **R1**: `reset` removes every instance, queued work item and lease, while connected
/// workers stay connected and receive work created afterwards.
pub async fn reset_clears_everything(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let first = start(store, w, "reset-1").await?;
    answer(
        store,
        &first,
        vec![
            schedule_task(1, "Held", None),
            schedule_task(2, "Queued", None),
        ],
    )
    .await?;
    let held = next_activity(store, w, "reset-1").await?;
    create(store, "reset-2").await?;
    call!(store.terminate_instance("reset-2", None, false).await);
    create(store, "reset-3").await?;

    call!(store.reset().await);
    for id in ["reset-1", "reset-2", "reset-3"] {
        ensure!(
            call!(store.get_instance(id, false).await).is_none(),
            "'{id}' survived reset"
        );
    }
    let query = call!(store.query_instances(InstanceQuery::default()).await);
    ensure!(
        query.items.is_empty() && query.continuation_token.is_none(),
        "query after reset returned {:?}",
        query
            .items
            .iter()
            .map(|s| &s.instance_id)
            .collect::<Vec<_>>()
    );
    let listed = call!(
        store
            .list_instance_ids(ListInstanceIdsRequest::default())
            .await
    );
    ensure!(
        listed.items.is_empty(),
        "list_instance_ids after reset returned {:?}",
        listed.items
    );
    activity_done(store, &held, "\"late\"").await?;
    expect_no_item(store, w, "after reset").await?;

    let fresh = start(store, w, "reset-4").await?;
    ensure_eq!(
        kinds(&fresh.req.new_events),
        [OS, ES],
        "newEvents of an instance created after reset"
    );
    Ok(())
}

/// Proves **L1**, **R1**: completion tokens stay unique across `reset`: an answer to a work item
/// handed out before the reset (a test's straggling worker) never completes one handed out after
/// it, even for an instance with the same id.
pub async fn tokens_unique_across_reset(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "token-1";
    let before = start(store, w, id).await?;
    call!(store.reset().await);
    let after = start(store, w, id).await?;
    answer(
        store,
        &before,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"stale\""))],
    )
    .await?;
    let state = get(store, id).await?;
    ensure!(
        status_of(&state) == Some(RuntimeStatus::Pending),
        "an answer to a work item from before the reset was applied to the new instance \
         (status {:?}, output {:?}); tokens before/after reset: {:?}/{:?}",
        status_of(&state),
        state.output,
        before.token,
        after.token
    );
    ensure!(
        after.token != before.token,
        "the completion token {:?} was handed out again after reset",
        after.token
    );
    Ok(())
}

/// Proves **R1** ("connected workers stay connected, with every slot free") and **L7** ("a slot is
/// free again when the lease ends, however it ends (reset included)"): a worker limited to one item
/// of each kind, holding one of each at the reset, is handed new work of every kind after it.
pub async fn reset_frees_every_slot(t: &Subject) -> Outcome {
    let store = t.store();
    let one_each = WorkLimits {
        orchestrations: Some(1),
        activities: Some(1),
        entities: Some(1),
    };
    let w = limited_worker(store, one_each).await?;
    let helper = worker(store).await?;
    let first = start(store, helper, "held-1").await?;
    answer(store, &first, vec![schedule_task(1, "Held", None)]).await?;
    next_activity(store, w, "held-1").await?;
    create(store, "held-2").await?;
    next_orchestration(store, w, "held-2").await?;
    call!(
        store
            .signal_entity(signal_request("@held@1", "op", ""))
            .await
    );
    next_entity(store, w, "@held@1").await?;

    call!(store.reset().await);
    let fresh = start(store, w, "after-1").await?;
    answer(store, &fresh, vec![schedule_task(1, "Next", None)]).await?;
    next_activity(store, w, "after-1").await?;
    call!(
        store
            .signal_entity(signal_request("@held@2", "op", ""))
            .await
    );
    next_entity(store, w, "@held@2").await?;
    Ok(())
}

/// Proves **R1** ("waits in progress keep waiting") with **W2**: a `wait_for_instance` begun
/// before a reset returns when an instance with that id is created and started after it.
pub async fn waits_outlive_a_reset(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "wait-reset";
    create(store, id).await?;
    let mut waiting = std::pin::pin!(store.wait_for_instance(id, WaitCondition::Started, false));
    if let Some(early) = poll_once(waiting.as_mut()).await {
        return Err(failure!(
            "wait_for_instance(Started) returned for a pending instance: {early:?}"
        ));
    }
    call!(store.reset().await);
    if let Some(early) = poll_once(waiting.as_mut()).await {
        return Err(failure!(
            "wait_for_instance(Started) returned after a reset: {early:?}"
        ));
    }
    start_running(store, w, id).await?;
    match timeout(ITEM_WAIT, waiting).await {
        Ok(Ok(state)) => ensure_eq!(
            status_of(&state),
            Some(RuntimeStatus::Running),
            "status returned to a wait begun before the reset"
        ),
        other => return Err(failure!("a wait begun before the reset gave {other:?}")),
    }
    Ok(())
}
