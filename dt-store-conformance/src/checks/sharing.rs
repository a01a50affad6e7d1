//! Sharing checks (contract M1–M5), for stores several servers share: each takes a
//! [`Sharing`], two servers on one store. Not part of [`crate::CHECKS`]: a store that one
//! server owns has no second server to check.

use crate::prelude::*;
use crate::sharing::Sharing;
use dt_proto::work_item::Request;

/// The instance ids of orchestration work items and the task ids of activity work items.
fn sort_out(items: &[(usize, WorkItem)]) -> (Vec<String>, Vec<(String, i32)>) {
    let mut orchestrations = Vec::new();
    let mut activities = Vec::new();
    for (_, item) in items {
        match &item.request {
            Some(Request::OrchestratorRequest(r)) => orchestrations.push(r.instance_id.clone()),
            Some(Request::ActivityRequest(a)) => activities.push((
                a.orchestration_instance
                    .as_ref()
                    .map_or(String::new(), |i| i.instance_id.clone()),
                a.task_id,
            )),
            _ => {}
        }
    }
    orchestrations.sort();
    activities.sort();
    (orchestrations, activities)
}

/// Workers on both servers take turns asking, both at once, until neither gets anything:
/// every item with the index of the server that handed it out.
async fn drain_both(t: &Sharing, workers: [WorkerId; 2]) -> Outcome<Vec<(usize, WorkItem)>> {
    let mut items = Vec::new();
    loop {
        let (from_a, from_b) = tokio::join!(
            t.a().try_next_work_item(workers[0]),
            t.b().try_next_work_item(workers[1])
        );
        let mut got = false;
        for (server, item) in [(0, from_a), (1, from_b)] {
            if let Some(item) = call!(item) {
                items.push((server, as_sent(item)?));
                got = true;
            }
        }
        if !got {
            return Ok(items);
        }
        ensure!(items.len() <= 200, "the servers hand out work without end");
    }
}

/// **M1**: two servers on one store are one task hub: an instance created through one is
/// read through the other and run by a worker of the other, an event raised through one
/// reaches an instance created through the other, and a waiter on the first wakes when the
/// second's worker completes the instance.
pub async fn servers_share_one_task_hub(t: &Sharing) -> Outcome {
    let (a, b) = (t.a(), t.b());
    create(a, "hub").await?;
    let seen = get(b, "hub").await?;
    ensure_eq!(
        seen.name,
        "Conformance",
        "the instance created through the first server, read through the second"
    );
    let wb = worker(b).await?;
    let run = async {
        let first = next_orchestration(b, wb, "hub").await?;
        answer(b, &first, vec![schedule_task(1, "Step", None)]).await?;
        let act = next_activity(b, wb, "hub").await?;
        activity_done(b, &act, "\"step\"").await?;
        let second = next_orchestration(b, wb, "hub").await?;
        ensure_eq!(
            tasks_completed(&second.req.new_events).len(),
            1,
            "the activity's result in the next turn"
        );
        answer(
            b,
            &second,
            vec![finish(2, OrchestrationStatus::Completed, Some("\"out\""))],
        )
        .await
    };
    let wait = timeout(
        ITEM_WAIT,
        a.wait_for_instance("hub", WaitCondition::Completed, true),
    );
    let (waited, ran) = tokio::join!(wait, run);
    ran?;
    let done = match waited {
        Ok(done) => call!(done),
        Err(_) => {
            return Err(failure!(
                "a waiter on the first server did not wake when the second completed the instance"
            ));
        }
    };
    ensure_eq!(
        status_of(&done),
        Some(RuntimeStatus::Completed),
        "the waiter's answer"
    );
    ensure_eq!(
        done.output.as_deref(),
        Some("\"out\""),
        "the output written through the second server"
    );

    create(a, "events").await?;
    call!(b.raise_event("events", "go".to_owned(), None).await);
    let wa = worker(a).await?;
    let first = next_orchestration(a, wa, "events").await?;
    let raised = events_raised(&first.req.new_events);
    ensure!(
        raised.iter().any(|e| e.name == "go"),
        "the event raised through the second server reaches the instance: {:?}",
        kinds(&first.req.new_events)
    );
    Ok(())
}

/// **M2**: work is handed out once across servers: workers on both servers asking at once
/// never both get the same orchestration work item or activity.
pub async fn work_is_handed_out_once_across_servers(t: &Sharing) -> Outcome {
    let ids: Vec<String> = (0..12).map(|i| format!("once-{i:02}")).collect();
    for (i, id) in ids.iter().enumerate() {
        create(if i % 2 == 0 { t.a() } else { t.b() }, id).await?;
    }
    let workers = [worker(t.a()).await?, worker(t.b()).await?];
    let first = drain_both(t, workers).await?;
    let (orchestrations, _) = sort_out(&first);
    ensure_eq!(
        orchestrations,
        ids,
        "each instance's first work item, handed out once by either server"
    );
    for (server, item) in first {
        let store = server_of(t, server);
        let id = match &item.request {
            Some(Request::OrchestratorRequest(r)) => r.instance_id.clone(),
            _ => String::new(),
        };
        let orch = into_orchestration(item, &id)?;
        answer(store, &orch, vec![schedule_task(1, "Step", None)]).await?;
    }
    let second = drain_both(t, workers).await?;
    let (orchestrations, activities) = sort_out(&second);
    ensure!(
        orchestrations.is_empty(),
        "nothing but the activities is ready: {orchestrations:?}"
    );
    let expected: Vec<(String, i32)> = ids.iter().map(|id| (id.clone(), 1)).collect();
    ensure_eq!(
        activities,
        expected,
        "each activity, handed out once by either server"
    );
    for (server, item) in second {
        let store = server_of(t, server);
        let id = match &item.request {
            Some(Request::ActivityRequest(a)) => a
                .orchestration_instance
                .as_ref()
                .map_or(String::new(), |i| i.instance_id.clone()),
            _ => String::new(),
        };
        activity_done(store, &into_activity(item, &id)?, "\"done\"").await?;
    }
    let third = drain_both(t, workers).await?;
    let (orchestrations, activities) = sort_out(&third);
    ensure_eq!(
        orchestrations,
        ids,
        "each instance's turn with its activity's result, handed out once"
    );
    ensure!(
        activities.is_empty(),
        "no activity runs twice: {activities:?}"
    );
    for (_, item) in &third {
        if let Some(Request::OrchestratorRequest(r)) = &item.request {
            ensure_eq!(
                tasks_completed(&r.new_events).len(),
                1,
                "the result of '{}' applied once",
                r.instance_id
            );
        }
    }
    Ok(())
}

fn server_of(t: &Sharing, index: usize) -> &dyn Store {
    if index == 0 { t.a() } else { t.b() }
}

/// **M3**: a timer and a delayed entity signal fire once, though both servers carry out what
/// is due at the same moment.
pub async fn timers_and_signals_fire_once_across_servers(t: &Sharing) -> Outcome {
    let (a, b) = (t.a(), t.b());
    let wa = worker(a).await?;
    let first = start(a, wa, "timer").await?;
    let fire_at = t.now() + TimeDelta::hours(1);
    answer(a, &first, vec![create_timer(1, to_timestamp(fire_at))]).await?;
    let mut signal = signal_request("@counter@x", "add", "delayed-1");
    signal.scheduled_time = Some(to_timestamp(fire_at));
    call!(b.signal_entity(signal).await);
    // Each server has seen both (a read is up to date with every acknowledged change).
    get(a, "timer").await?;
    get(b, "timer").await?;
    t.advance(TimeDelta::hours(2));
    for _ in 0..2 {
        let (due_a, due_b) = tokio::join!(a.run_due(), b.run_due());
        call!(due_a);
        call!(due_b);
    }
    let workers = [wa, worker(b).await?];
    let items = drain_both(t, workers).await?;
    let mut fired = 0;
    let mut operations = 0;
    for (_, item) in &items {
        match &item.request {
            Some(Request::OrchestratorRequest(r)) => fired += timers_fired(&r.new_events).len(),
            Some(Request::EntityRequestV2(e)) => operations += e.operation_requests.len(),
            _ => return Err(failure!("an unexpected work item: {}", describe(item))),
        }
    }
    ensure_eq!(fired, 1, "timerFired events delivered for the one timer");
    ensure_eq!(
        operations,
        1,
        "operations delivered for the one delayed signal"
    );
    Ok(())
}

/// **M4**: the work a dead server's workers held (an orchestration work item, an activity)
/// is handed out again by the others once its registration lapses; an answer the dead server
/// takes in afterwards is not applied.
pub async fn a_dead_servers_work_is_handed_out_again(t: &Sharing) -> Outcome {
    let (a, b) = (t.a(), t.b());
    let wa = worker(a).await?;
    let first = start(a, wa, "orphan").await?;
    answer(a, &first, vec![schedule_task(1, "Step", None)]).await?;
    create(a, "orphan-turn").await?;
    let wb = worker(b).await?;
    let (mut held_activity, mut held_turn) = (None, None);
    for _ in 0..2 {
        let item = next_item(b, wb, "work for the second server's worker").await?;
        sort_item(
            item,
            "orphan",
            "orphan-turn",
            &mut held_activity,
            &mut held_turn,
        )?;
    }
    let Some(held_activity) = held_activity else {
        return Err(failure!("the second server's worker took no activity"));
    };
    expect_no_item(
        a,
        wa,
        "while the second server lives, what it holds stays its own",
    )
    .await?;

    t.declare_b_dead().await;
    let mut again = Vec::new();
    while again.len() < 2 {
        match timeout(ITEM_WAIT, a.next_work_item(wa)).await {
            Ok(item) => again.push(as_sent(call!(item))?),
            Err(_) => {
                return Err(failure!(
                    "the dead server's work was not handed out again within {ITEM_WAIT:?} (got {} of 2)",
                    again.len()
                ));
            }
        }
    }
    let (mut activity, mut turn) = (None, None);
    for item in again {
        sort_item(item, "orphan", "orphan-turn", &mut activity, &mut turn)?;
    }
    let (Some(activity), Some(_turn)) = (activity, turn) else {
        return Err(failure!(
            "expected the activity and the orchestration work item again"
        ));
    };
    ensure!(
        activity.token != held_activity.token,
        "handed out again under a new token"
    );
    // The dead server's worker answers late: the store may refuse or ignore it, never apply it.
    let late = ActivityResponse {
        instance_id: "orphan".to_owned(),
        task_id: held_activity.req.task_id,
        result: Some("\"late\"".to_owned()),
        failure_details: None,
        completion_token: held_activity.token.clone(),
    };
    let _ = b.complete_activity(late).await;
    activity_done(a, &activity, "\"again\"").await?;
    let next = next_orchestration(a, wa, "orphan").await?;
    let results: Vec<Option<String>> = tasks_completed(&next.req.new_events)
        .iter()
        .map(|c| c.result.clone())
        .collect();
    ensure_eq!(
        results,
        vec![Some("\"again\"".to_owned())],
        "the activity's result applied once, the live server's"
    );
    Ok(())
}

/// **M5**: a live server keeps what its workers hold for as long as they take: an activity
/// held longer than a registration lasts without renewal is not handed out again, and its
/// result is applied.
pub async fn a_live_servers_work_is_kept(t: &Sharing) -> Outcome {
    let (a, b) = (t.a(), t.b());
    let wa = worker(a).await?;
    let first = start(a, wa, "long").await?;
    answer(a, &first, vec![schedule_task(1, "Slow", None)]).await?;
    let wb = worker(b).await?;
    let act = next_activity(b, wb, "long").await?;
    // Real time must pass here: registrations are renewed (or lapse) on the store's clock,
    // not the suite's.
    tokio::time::sleep(t.patience()).await;
    expect_no_item(a, wa, "an activity its live server still holds").await?;
    activity_done(b, &act, "\"slow\"").await?;
    let next = next_orchestration(a, wa, "long").await?;
    ensure_eq!(
        tasks_completed(&next.req.new_events).len(),
        1,
        "the long activity's result"
    );
    Ok(())
}
