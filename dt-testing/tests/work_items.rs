//! The work-item stream as raw workers see it (protocol.md §1): several workers sharing the
//! queues exactly once, health pings, work-item filters, completion tokens (uniqueness,
//! duplicates, unknown tokens), redelivery after a disconnect, abandon, lease expiry, a
//! sub-orchestration id collision, and results scoped to the execution that scheduled them.

mod common;

use common::*;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
use dt_store::StoreConfig;
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_stream::StreamExt;

/// Answers every orchestrator request with COMPLETED until told to stop; returns the instance
/// ids it was handed, in order.
async fn completing_worker(
    mut worker: Worker,
    mut stop: oneshot::Receiver<()>,
) -> Result<Vec<String>, String> {
    let mut seen = Vec::new();
    loop {
        let item = tokio::select! {
            _ = &mut stop => return Ok(seen),
            item = worker.stream.next() => item,
        };
        let item = item
            .ok_or("the work-item stream ended")?
            .map_err(|s| s.to_string())?;
        match item.request {
            Some(Item::OrchestratorRequest(r)) => {
                seen.push(r.instance_id.clone());
                worker
                    .complete(
                        &r.instance_id,
                        &item.completion_token,
                        vec![complete(1, "1")],
                    )
                    .await
                    .map_err(|s| s.to_string())?;
            }
            Some(Item::HealthPing(_)) => {}
            other => return Err(format!("unexpected work item {other:?}")),
        }
    }
}

#[tokio::test]
async fn two_workers_share_the_work_and_each_item_goes_to_exactly_one() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let (stop_a, rx_a) = oneshot::channel();
    let (stop_b, rx_b) = oneshot::channel();
    let a = tokio::spawn(completing_worker(
        Worker::connect(&backend, None).await?,
        rx_a,
    ));
    let b = tokio::spawn(completing_worker(
        Worker::connect(&backend, None).await?,
        rx_b,
    ));
    let ids: Vec<String> = (0..20).map(|i| format!("shared-{i:02}")).collect();
    for id in &ids {
        start(&mut c, id, "o").await?;
    }
    for id in &ids {
        let done = wait_completed(&mut c, id).await?;
        assert_eq!(status(&done)?, OrchestrationStatus::Completed, "{id}");
    }
    let _ = stop_a.send(());
    let _ = stop_b.send(());
    let seen_a = a.await??;
    let seen_b = b.await??;
    let set_a: HashSet<&String> = seen_a.iter().collect();
    let set_b: HashSet<&String> = seen_b.iter().collect();
    assert_eq!(
        set_a.len(),
        seen_a.len(),
        "worker A saw an id twice: {seen_a:?}"
    );
    assert_eq!(
        set_b.len(),
        seen_b.len(),
        "worker B saw an id twice: {seen_b:?}"
    );
    assert!(
        set_a.is_disjoint(&set_b),
        "items went to both workers: {:?}",
        set_a.intersection(&set_b).collect::<Vec<_>>()
    );
    let union: HashSet<&String> = set_a.union(&set_b).copied().collect();
    assert_eq!(union, ids.iter().collect::<HashSet<_>>());
    // Both workers usually get some of the 20 items, but the server does not balance load:
    // whichever stream is waiting when an item becomes ready leases it, and one fast stream
    // may drain the queue alone. So only exactly-once delivery is asserted.
    eprintln!(
        "worker A got {}, worker B got {}",
        seen_a.len(),
        seen_b.len()
    );
    Ok(())
}

#[tokio::test]
async fn an_idle_stream_receives_health_pings() -> TestResult {
    let backend = backend_with(StoreConfig::default(), Some(Duration::from_millis(100))).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    let item = tokio::time::timeout(Duration::from_secs(1), worker.stream.next())
        .await?
        .ok_or("the work-item stream ended")??;
    assert!(
        matches!(item.request, Some(Item::HealthPing(_))),
        "expected a health ping, got {item:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_name_filter_takes_only_matching_orchestrations() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut picky = Worker::connect(&backend, orchestrations_only(&["wanted"])).await?;
    start(&mut c, "other-1", "other").await?;
    start(&mut c, "wanted-1", "wanted").await?;
    let (r, _) = picky.next_orchestration().await?;
    assert_eq!(r.instance_id, "wanted-1");
    picky.expect_nothing(QUIET).await?;
    assert_eq!(
        status(&state(&mut c, "other-1").await?)?,
        OrchestrationStatus::Pending
    );
    // A worker without filters takes what the picky one left.
    let mut any = Worker::connect(&backend, None).await?;
    let (r, _) = any.next_orchestration().await?;
    assert_eq!(r.instance_id, "other-1");
    Ok(())
}

#[tokio::test]
async fn a_version_filter_skips_other_versions() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut v2 = Worker::connect(
        &backend,
        Some(WorkItemFilters {
            orchestrations: vec![OrchestrationFilter {
                name: "o".to_owned(),
                versions: vec!["2".to_owned()],
            }],
            ..Default::default()
        }),
    )
    .await?;
    for (id, version) in [("v1", "1"), ("v2", "2")] {
        c.start_instance(CreateInstanceRequest {
            instance_id: id.to_owned(),
            name: "o".to_owned(),
            version: Some(version.to_owned()),
            ..Default::default()
        })
        .await?;
    }
    let (r, _) = v2.next_orchestration().await?;
    assert_eq!(r.instance_id, "v2");
    v2.expect_nothing(QUIET).await?;
    assert_eq!(
        status(&state(&mut c, "v1").await?)?,
        OrchestrationStatus::Pending
    );
    Ok(())
}

#[tokio::test]
async fn an_activity_only_filter_takes_activities_but_no_orchestrations() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut activities = Worker::connect(&backend, activities_only(&["act"])).await?;
    start(&mut c, "a-1", "o").await?;
    activities.expect_nothing(QUIET).await?;
    let mut orchestrations = Worker::connect(&backend, orchestrations_only(&["o"])).await?;
    let (r, token) = orchestrations.next_orchestration().await?;
    orchestrations
        .complete(&r.instance_id, &token, vec![schedule(1, "act", "5")])
        .await?;
    let (task, token) = activities.next_activity().await?;
    assert_eq!((task.name.as_str(), task.task_id), ("act", 1));
    activities.complete_activity(&task, &token, "6").await?;
    let (r, _) = orchestrations.next_orchestration().await?;
    assert_eq!(task_results(&r.new_events), vec![(1, Some("6".to_owned()))]);
    activities.expect_nothing(QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn tokens_are_unique_and_duplicate_completions_apply_once() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    let ids = ["tok-1", "tok-2", "tok-3"];
    for id in ids {
        start(&mut c, id, "o").await?;
    }
    let mut tokens = Vec::new();
    // Each instance's first answer, re-sent while its second work item is in flight.
    let mut first_answers: Vec<(String, String)> = Vec::new();
    let mut finished = 0;
    while finished < ids.len() {
        let item = w.next().await?;
        tokens.push(item.completion_token.clone());
        let token = item.completion_token;
        match item.request {
            Some(Item::OrchestratorRequest(r)) if task_results(&r.new_events).is_empty() => {
                let actions = vec![schedule(1, "act", "1")];
                w.complete(&r.instance_id, &token, actions.clone()).await?;
                w.complete(&r.instance_id, &token, actions).await?;
                first_answers.push((r.instance_id, token));
            }
            Some(Item::OrchestratorRequest(r)) => {
                assert_eq!(
                    task_results(&r.new_events),
                    vec![(1, Some("2".to_owned()))],
                    "{}: {:?}",
                    r.instance_id,
                    kinds(&r.new_events)
                );
                let (_, late) = first_answers
                    .iter()
                    .find(|(id, _)| *id == r.instance_id)
                    .ok_or("second turn before the first")?;
                w.complete(&r.instance_id, late, vec![schedule(1, "act", "1")])
                    .await?;
                w.complete(&r.instance_id, &token, vec![complete(2, "3")])
                    .await?;
                w.complete(&r.instance_id, &token, vec![complete(2, "3")])
                    .await?;
                finished += 1;
            }
            Some(Item::ActivityRequest(a)) => {
                w.complete_activity(&a, &token, "2").await?;
                w.complete_activity(&a, &token, "2").await?;
            }
            other => return Err(format!("unexpected work item {other:?}").into()),
        }
    }
    assert_eq!(tokens.len(), 9, "{tokens:?}");
    assert!(tokens.iter().all(|t| !t.is_empty()), "{tokens:?}");
    assert_eq!(
        tokens.iter().collect::<HashSet<_>>().len(),
        tokens.len(),
        "tokens repeat: {tokens:?}"
    );
    for id in ids {
        let done = wait_completed(&mut c, id).await?;
        assert_eq!(status(&done)?, OrchestrationStatus::Completed);
        let events = history(&mut c, id).await?;
        let names = kinds(&events);
        assert_eq!(
            count(&events, "OrchestratorCompleted"),
            2,
            "{id}: {names:?}"
        );
        assert_eq!(count(&events, "TaskScheduled"), 1, "{id}: {names:?}");
        assert_eq!(count(&events, "TaskCompleted"), 1, "{id}: {names:?}");
        assert_eq!(count(&events, "ExecutionCompleted"), 1, "{id}: {names:?}");
    }
    w.expect_nothing(QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn an_unknown_token_is_accepted_and_ignored() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "unknown-token", "o").await?;
    let (r, token) = w.next_orchestration().await?;
    w.complete(&r.instance_id, "999999", vec![complete(1, "\"forged\"")])
        .await?;
    c.complete_activity_task(ActivityResponse {
        instance_id: r.instance_id.clone(),
        task_id: 1,
        result: Some("\"forged\"".to_owned()),
        completion_token: "999999".to_owned(),
        ..Default::default()
    })
    .await?;
    assert_eq!(
        status(&state(&mut c, "unknown-token").await?)?,
        OrchestrationStatus::Pending
    );
    w.complete(&r.instance_id, &token, vec![complete(1, "\"real\"")])
        .await?;
    let done = wait_completed(&mut c, "unknown-token").await?;
    assert_eq!(done.output.as_deref(), Some("\"real\""));
    Ok(())
}

/// A worker still holding an item from before `reset()` must not be able to complete the new
/// instance that reuses the id: tokens must stay unique across a reset.
#[tokio::test]
async fn tokens_stay_unique_across_reset() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "again", "o").await?;
    let (_, old_token) = w.next_orchestration().await?;
    backend.reset().await;
    start(&mut c, "again", "o").await?;
    let (r, new_token) = w.next_orchestration().await?;
    // The stale answer (from the worker's run before the reset) must be ignored.
    w.complete(&r.instance_id, &old_token, vec![complete(1, "\"stale\"")])
        .await?;
    let got = state(&mut c, "again").await?;
    assert_eq!(
        status(&got)?,
        OrchestrationStatus::Pending,
        "a completion carrying the pre-reset token {old_token:?} was applied to the new \
         instance (whose token is {new_token:?}): {got:?}"
    );
    assert_ne!(new_token, old_token, "a token was handed out twice");
    Ok(())
}

#[tokio::test]
async fn an_orchestration_item_is_redelivered_after_its_worker_disconnects() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut a = Worker::connect(&backend, None).await?;
    start(&mut c, "redeliver", "o").await?;
    let (first, token_a) = a.next_orchestration().await?;
    let mut b = Worker::connect(&backend, None).await?;
    b.expect_nothing(QUIET).await?;
    let mut late = a.drop_stream();
    let (second, token_b) = b.next_orchestration().await?;
    assert_eq!(second.instance_id, "redeliver");
    assert_ne!(token_a, token_b);
    assert_eq!(kind(&second.new_events[0]), "OrchestratorStarted");
    assert_eq!(
        without_started(&second.new_events),
        without_started(&first.new_events)
    );
    complete_orchestration(&mut late, "redeliver", &token_a, vec![complete(1, "\"A\"")]).await?;
    assert_eq!(
        status(&state(&mut c, "redeliver").await?)?,
        OrchestrationStatus::Pending,
        "the lost worker's late answer was applied"
    );
    b.complete("redeliver", &token_b, vec![complete(1, "\"B\"")])
        .await?;
    let done = wait_completed(&mut c, "redeliver").await?;
    assert_eq!(done.output.as_deref(), Some("\"B\""));
    Ok(())
}

#[tokio::test]
async fn an_activity_item_is_redelivered_after_its_worker_disconnects() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut o = Worker::connect(&backend, orchestrations_only(&["o"])).await?;
    let mut a = Worker::connect(&backend, activities_only(&["act"])).await?;
    start(&mut c, "redeliver-act", "o").await?;
    let (r, token) = o.next_orchestration().await?;
    o.complete(&r.instance_id, &token, vec![schedule(1, "act", "7")])
        .await?;
    let (first, token_a) = a.next_activity().await?;
    let mut b = Worker::connect(&backend, activities_only(&["act"])).await?;
    b.expect_nothing(QUIET).await?;
    let mut late = a.drop_stream();
    let (second, token_b) = b.next_activity().await?;
    assert_ne!(token_a, token_b);
    assert_eq!(second, first);
    complete_activity(&mut late, &first, &token_a, "\"A\"").await?;
    b.complete_activity(&second, &token_b, "\"B\"").await?;
    let (r, token) = o.next_orchestration().await?;
    assert_eq!(
        task_results(&r.new_events),
        vec![(1, Some("\"B\"".to_owned()))],
        "{:?}",
        kinds(&r.new_events)
    );
    o.complete(&r.instance_id, &token, vec![complete(2, "\"done\"")])
        .await?;
    let events = history(&mut c, "redeliver-act").await?;
    assert_eq!(count(&events, "TaskCompleted"), 1, "{:?}", kinds(&events));
    Ok(())
}

#[tokio::test]
async fn an_abandoned_orchestration_item_comes_back_with_the_same_events() -> TestResult {
    let delay = Duration::from_millis(50);
    let backend = backend_with(
        StoreConfig {
            abandon_delay: delay,
            ..StoreConfig::default()
        },
        None,
    )
    .await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "abandon", "o").await?;
    let (first, token) = w.next_orchestration().await?;
    let abandoned_at = std::time::Instant::now();
    w.client
        .abandon_task_orchestrator_work_item(AbandonOrchestrationTaskRequest {
            completion_token: token.clone(),
        })
        .await?;
    let (again, token2) = w.next_orchestration().await?;
    let waited = abandoned_at.elapsed();
    assert!(
        waited >= delay - Duration::from_millis(5),
        "came back after {waited:?}, before the abandon delay"
    );
    assert_eq!(again.instance_id, "abandon");
    assert_ne!(token, token2);
    assert_eq!(
        without_started(&again.new_events),
        without_started(&first.new_events)
    );
    w.complete("abandon", &token2, vec![complete(1, "1")])
        .await?;
    assert_eq!(
        status(&wait_completed(&mut c, "abandon").await?)?,
        OrchestrationStatus::Completed
    );
    Ok(())
}

#[tokio::test]
async fn an_abandoned_activity_comes_back() -> TestResult {
    let backend = backend_with(
        StoreConfig {
            abandon_delay: Duration::from_millis(50),
            ..StoreConfig::default()
        },
        None,
    )
    .await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "abandon-act", "o").await?;
    let (r, token) = w.next_orchestration().await?;
    w.complete(&r.instance_id, &token, vec![schedule(1, "act", "7")])
        .await?;
    let (first, token) = w.next_activity().await?;
    w.client
        .abandon_task_activity_work_item(AbandonActivityTaskRequest {
            completion_token: token.clone(),
        })
        .await?;
    let (again, token2) = w.next_activity().await?;
    assert_ne!(token, token2);
    assert_eq!(again, first);
    w.complete_activity(&again, &token2, "8").await?;
    let (r, _) = w.next_orchestration().await?;
    assert_eq!(task_results(&r.new_events), vec![(1, Some("8".to_owned()))]);
    Ok(())
}

#[tokio::test]
async fn an_expired_lease_is_dispatched_again() -> TestResult {
    let lease = Duration::from_millis(300);
    let backend = backend_with(
        StoreConfig {
            lease_duration: lease,
            ..StoreConfig::default()
        },
        None,
    )
    .await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "lease", "o").await?;
    let (first, token) = w.next_orchestration().await?;
    let leased_at = std::time::Instant::now();
    // Hold the item without answering; the stream stays open.
    let (again, token2) = w.next_orchestration().await?;
    let waited = leased_at.elapsed();
    assert!(
        waited >= lease - Duration::from_millis(20),
        "redelivered after {waited:?}, before the lease expired"
    );
    assert_eq!(again.instance_id, "lease");
    assert_ne!(token, token2);
    assert_eq!(
        without_started(&again.new_events),
        without_started(&first.new_events)
    );
    w.complete("lease", &token, vec![complete(1, "\"expired\"")])
        .await?;
    w.complete("lease", &token2, vec![complete(1, "\"current\"")])
        .await?;
    let done = wait_completed(&mut c, "lease").await?;
    assert_eq!(done.output.as_deref(), Some("\"current\""));
    Ok(())
}

#[tokio::test]
async fn a_sub_orchestration_id_held_by_a_running_instance_fails_the_task() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "taken", "child").await?;
    let (r, token) = w.next_orchestration().await?;
    w.complete(&r.instance_id, &token, Vec::new()).await?;
    let before = state(&mut c, "taken").await?;
    assert_eq!(status(&before)?, OrchestrationStatus::Running);

    start(&mut c, "parent", "p").await?;
    let (r, token) = w.next_orchestration().await?;
    assert_eq!(r.instance_id, "parent");
    w.complete(
        "parent",
        &token,
        vec![sub_orchestration(5, "taken", "child")],
    )
    .await?;
    let (r, _) = w.next_orchestration().await?;
    assert_eq!(r.instance_id, "parent");
    let failed: Vec<i32> = r
        .new_events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(history_event::EventType::SubOrchestrationInstanceFailed(f)) => {
                Some(f.task_scheduled_id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![5], "{:?}", kinds(&r.new_events));
    let after = state(&mut c, "taken").await?;
    assert_eq!(status(&after)?, OrchestrationStatus::Running);
    assert_eq!(
        after.execution_id, before.execution_id,
        "the running child was replaced"
    );
    Ok(())
}

#[tokio::test]
async fn an_activity_result_from_before_continue_as_new_is_dropped() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut o = Worker::connect(&backend, orchestrations_only(&["o"])).await?;
    let mut a = Worker::connect(&backend, activities_only(&["act"])).await?;
    start(&mut c, "scoped", "o").await?;
    let (r, token) = o.next_orchestration().await?;
    let first_execution = r.execution_id.clone();
    o.complete("scoped", &token, vec![schedule(1, "act", "\"old\"")])
        .await?;
    let (old_task, old_token) = a.next_activity().await?;

    raise(&mut c, "scoped", "go").await?;
    let (_, token) = o.next_orchestration().await?;
    o.complete(
        "scoped",
        &token,
        vec![finish(2, OrchestrationStatus::ContinuedAsNew, "\"next\"")],
    )
    .await?;
    let (r, token) = o.next_orchestration().await?;
    assert_ne!(r.execution_id, first_execution);
    // The new execution schedules an activity with the same task id.
    o.complete("scoped", &token, vec![schedule(1, "act", "\"new\"")])
        .await?;
    let (new_task, new_token) = a.next_activity().await?;
    assert_eq!(new_task.task_id, 1);

    a.complete_activity(&old_task, &old_token, "\"old result\"")
        .await?;
    raise(&mut c, "scoped", "probe").await?;
    let (r, token) = o.next_orchestration().await?;
    assert_eq!(
        without_started(&r.new_events)
            .iter()
            .map(kind)
            .collect::<Vec<_>>(),
        vec!["EventRaised"],
        "the old execution's result reached the new one: {:?}",
        r.new_events
    );
    o.complete("scoped", &token, Vec::new()).await?;
    let events = history(&mut c, "scoped").await?;
    assert!(task_results(&events).is_empty(), "{:?}", kinds(&events));

    a.complete_activity(&new_task, &new_token, "\"new result\"")
        .await?;
    let (r, _) = o.next_orchestration().await?;
    assert_eq!(
        task_results(&r.new_events),
        vec![(1, Some("\"new result\"".to_owned()))]
    );
    Ok(())
}

#[tokio::test]
async fn a_worker_never_holds_more_than_its_limit_and_the_rest_goes_elsewhere() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut limited_client = connect(&backend).await?;
    let stream = limited_client
        .get_work_items(GetWorkItemsRequest {
            max_concurrent_orchestration_work_items: 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut limited = Worker {
        client: limited_client,
        stream,
    };
    for id in ["cap-1", "cap-2", "cap-3"] {
        start(&mut c, id, "o").await?;
    }
    let (first, token) = limited.next_orchestration().await?;
    limited.expect_nothing(QUIET).await?;

    // Another worker takes the two the limited one may not hold, finishes them and leaves.
    let mut other = Worker::connect(&backend, None).await?;
    let mut taken = vec![first.instance_id.clone()];
    for _ in 0..2 {
        let (item, other_token) = other.next_orchestration().await?;
        other
            .complete(&item.instance_id, &other_token, vec![complete(1, "1")])
            .await?;
        taken.push(item.instance_id);
    }
    taken.sort();
    assert_eq!(taken, ["cap-1", "cap-2", "cap-3"]);
    drop(other);

    // Once it answers, the limited worker may take the next item again.
    limited.complete(&first.instance_id, &token, vec![]).await?;
    raise(&mut c, &first.instance_id, "more").await?;
    let (again, _) = limited.next_orchestration().await?;
    assert_eq!(again.instance_id, first.instance_id);
    Ok(())
}
