//! Waiting: `wait_for_instance` and `next_work_item` wait on notifications, wake when their
//! condition comes true, and lose nothing when dropped.

use crate::prelude::*;
use std::pin::pin;

/// Proves **W2** ("`wait_for_instance` returns once the instance exists and satisfies the
/// condition, with its state then; it is cancel-safe"): waits on a pending or unknown instance do
/// not return, a dropped wait leaves the store working, and waits begun before the instance started
/// (or existed) return the state that satisfies them.
pub async fn wait_for_instance_is_cancel_safe(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "wait-1";
    create(store, id).await?;
    for (target, condition) in [
        (id, WaitCondition::Completed),
        (id, WaitCondition::Started),
        ("wait-unknown", WaitCondition::Started),
    ] {
        let wait = pin!(store.wait_for_instance(target, condition, true));
        if let Some(early) = poll_once(wait).await {
            return Err(failure!(
                "wait_for_instance('{target}', {condition:?}) returned before it held: {early:?}"
            ));
        }
        // Dropped here, pending: the store must not care.
    }

    let drive = async {
        let first = next_orchestration(store, w, id).await?;
        answer(store, &first, Vec::new()).await?;
        call!(store.raise_event(id, "finish".to_owned(), None).await);
        let second = next_orchestration(store, w, id).await?;
        answer(
            store,
            &second,
            vec![finish(
                1,
                OrchestrationStatus::Completed,
                Some("\"waited\""),
            )],
        )
        .await
    };
    let (started, completed, driven) = tokio::join!(
        timeout(
            ITEM_WAIT,
            store.wait_for_instance(id, WaitCondition::Started, false)
        ),
        timeout(
            ITEM_WAIT,
            store.wait_for_instance(id, WaitCondition::Completed, true)
        ),
        drive
    );
    driven?;
    match started {
        Ok(Ok(state)) => ensure!(
            status_of(&state).is_some_and(|s| s != RuntimeStatus::Pending),
            "wait_for_instance(Started) returned a pending instance: {state:?}"
        ),
        other => return Err(failure!("wait_for_instance(Started) gave {other:?}")),
    }
    match completed {
        Ok(Ok(state)) => {
            ensure_eq!(
                status_of(&state),
                Some(RuntimeStatus::Completed),
                "status returned by wait_for_instance(Completed)"
            );
            ensure_eq!(
                state.output.as_deref(),
                Some("\"waited\""),
                "output returned by wait_for_instance(Completed)"
            );
        }
        other => return Err(failure!("wait_for_instance(Completed) gave {other:?}")),
    }

    let late = "wait-late";
    let create_late = async {
        create(store, late).await?;
        let first = next_orchestration(store, w, late).await?;
        answer(store, &first, Vec::new()).await
    };
    let (waited, created) = tokio::join!(
        timeout(
            ITEM_WAIT,
            store.wait_for_instance(late, WaitCondition::Started, false)
        ),
        create_late
    );
    created?;
    match waited {
        Ok(Ok(state)) => ensure_eq!(
            status_of(&state),
            Some(RuntimeStatus::Running),
            "status returned by a wait that began before the instance existed"
        ),
        other => {
            return Err(failure!(
                "wait_for_instance(Started) for an instance created later gave {other:?}"
            ));
        }
    }
    Ok(())
}

/// Proves **W1** ("`next_work_item` waits until an item this worker accepts is ready and leases it;
/// it is cancel-safe: a dropped wait holds no lease"): a waiting worker is woken by new work, and a
/// wait dropped before it returned leaves the item for the next fetch.
pub async fn next_work_item_waits_and_is_cancel_safe(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    {
        let dropped = pin!(store.next_work_item(w));
        if let Some(early) = poll_once(dropped).await {
            return Err(failure!(
                "next_work_item returned with nothing queued: {early:?}"
            ));
        }
    }
    create(store, "waiting-1").await?;
    next_orchestration(store, w, "waiting-1").await?;

    let mut waiting = pin!(store.next_work_item(w));
    if let Some(early) = poll_once(waiting.as_mut()).await {
        return Err(failure!(
            "next_work_item returned with nothing queued: {early:?}"
        ));
    }
    create(store, "waiting-2").await?;
    let item = match timeout(ITEM_WAIT, waiting).await {
        Ok(Ok(item)) => item,
        other => {
            return Err(failure!(
                "a waiting next_work_item after an instance was created gave {other:?}"
            ));
        }
    };
    into_orchestration(as_sent(item)?, "waiting-2")?;
    expect_no_item(store, w, "after both instances were handed out").await?;

    // Every kind of new work wakes a waiting worker.
    let entity = "@waiting@e";
    let signal = async {
        call!(
            store
                .signal_entity(signal_request(entity, "op", "r1"))
                .await
        );
        Ok(())
    };
    into_entity(woken_by(store, w, "a signal", signal).await?, entity)?;
    let helper = worker(store).await?;
    let id = "waiting-3";
    create(store, id).await?;
    let first = next_orchestration(store, helper, id).await?;
    let schedule = answer(store, &first, vec![schedule_task(1, "Work", None)]);
    into_activity(
        woken_by(store, w, "a scheduled activity", schedule).await?,
        id,
    )?;
    answer(store, &first, Vec::new()).await?;
    create(store, "waiting-4").await?;
    let first = next_orchestration(store, helper, "waiting-4").await?;
    answer(store, &first, vec![schedule_task(1, "Work", None)]).await?;
    next_activity(store, helper, "waiting-4").await?;
    let lost = async {
        call!(store.disconnect_worker(helper).await);
        Ok(())
    };
    into_activity(
        woken_by(store, w, "an activity given back by a lost worker", lost).await?,
        "waiting-4",
    )?;
    Ok(())
}

/// Proves **L7** ("a worker that waits at its limit is woken when one of its leases ends, however
/// it ends"): a worker limited to one activity waits with a second one queued; when it gives the
/// first back, its waiting `next_work_item` returns the second.
pub async fn worker_at_its_limit_wakes_when_a_lease_ends(t: &Subject) -> Outcome {
    let store = t.store();
    // Orchestrations: one held, another queued.
    let options = WorkerOptions {
        limits: WorkLimits {
            orchestrations: Some(1),
            ..Default::default()
        },
        ..only("Conformance", "NoActivity").into()
    };
    let limited = call!(store.connect_worker(options).await);
    let held = start(store, limited, "parked-1").await?;
    create(store, "parked-2").await?;
    let mut parked = pin!(store.next_work_item(limited));
    if let Some(early) = poll_once(parked.as_mut()).await {
        return Err(failure!(
            "a worker at its orchestration limit was handed {early:?}"
        ));
    }
    call!(store.abandon_orchestration(&held.token).await);
    match timeout(ITEM_WAIT, parked).await {
        Ok(Ok(item)) => {
            into_orchestration(as_sent(item)?, "parked-2")?;
        }
        other => {
            return Err(failure!(
                "the worker waiting at its orchestration limit, after its lease ended, gave \
                 {other:?}"
            ));
        }
    }

    // Activities: one held, another queued.
    let options = WorkerOptions {
        limits: WorkLimits {
            activities: Some(1),
            ..Default::default()
        },
        ..only("Activities", "A").into()
    };
    let w = call!(store.connect_worker(options).await);
    let id = "parked-3";
    call!(
        store
            .create_instance(new_instance(id, "Activities", None))
            .await
    );
    let first = next_orchestration(store, w, id).await?;
    answer(
        store,
        &first,
        vec![schedule_task(1, "A", None), schedule_task(2, "A", None)],
    )
    .await?;
    let held = next_activity(store, w, id).await?;
    let mut parked = pin!(store.next_work_item(w));
    if let Some(early) = poll_once(parked.as_mut()).await {
        return Err(failure!(
            "a worker at its activity limit was handed {early:?}"
        ));
    }
    call!(store.abandon_activity(&held.token).await);
    let item = match timeout(ITEM_WAIT, parked).await {
        Ok(Ok(item)) => item,
        other => {
            return Err(failure!(
                "the worker waiting at its activity limit, after its lease ended, gave {other:?}"
            ));
        }
    };
    let other = into_activity(as_sent(item)?, id)?;
    ensure!(
        other.req.task_id != held.req.task_id,
        "the woken worker got the abandoned activity before its back-off"
    );
    Ok(())
}

/// Proves **W1** ("`next_work_item` waits until an item this worker accepts is ready") with
/// **L8** ("a worker is handed only work its filters accept"): of two waiting workers, the one
/// whose filters accept a new orchestration gets it, even when the other began waiting first.
pub async fn filtered_workers_are_woken_for_their_work(t: &Subject) -> Outcome {
    let store = t.store();
    let other = call!(
        store
            .connect_worker(only("OtherOrchestration", "OtherActivity").into())
            .await
    );
    let wanted = call!(
        store
            .connect_worker(only("Wanted", "WantedActivity").into())
            .await
    );
    let mut parked_other = pin!(store.next_work_item(other));
    let mut parked_wanted = pin!(store.next_work_item(wanted));
    for (name, parked) in [
        (
            "the worker filtering on another orchestration",
            parked_other.as_mut(),
        ),
        ("the matching worker", parked_wanted.as_mut()),
    ] {
        if let Some(early) = poll_once(parked).await {
            return Err(failure!("{name} was handed {early:?} with nothing queued"));
        }
    }
    call!(
        store
            .create_instance(new_instance("woken-1", "Wanted", None))
            .await
    );
    match timeout(ITEM_WAIT, parked_wanted).await {
        Ok(Ok(item)) => {
            into_orchestration(as_sent(item)?, "woken-1")?;
        }
        other => {
            return Err(failure!(
                "the matching worker, waiting when the instance was created, gave {other:?}"
            ));
        }
    }
    if let Some(taken) = poll_once(parked_other).await {
        return Err(failure!(
            "the worker filtering on another orchestration was handed {taken:?}"
        ));
    }
    Ok(())
}

/// Proves **T2** ("`schedule_changed` resolves after something was scheduled earlier than
/// anything before it") for leases: the first lease granted on an idle store is the earliest
/// deadline (its expiry), so the scheduler is told.
pub async fn schedule_changed_tells_of_a_first_lease(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    start(store, w, "first-lease").await?;
    ensure!(
        timeout(ITEM_WAIT, store.schedule_changed()).await.is_ok(),
        "schedule_changed did not resolve after the first lease was granted"
    );
    ensure_eq!(
        call!(store.run_due().await),
        Some(t.config().lease_duration),
        "run_due's time until the lease expires"
    );
    Ok(())
}
