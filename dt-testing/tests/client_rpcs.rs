//! Client RPCs over the raw protocol (protocol.md §2.2, §3): long-poll waits with and without
//! deadlines, the RPCs this server answers UNIMPLEMENTED, clear errors for bad input (codes,
//! a malformed worker answer failing the instance, a megabyte id in an error message), and
//! scheduled starts.

mod common;

use common::*;
use dt_proto::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::Code;

fn get(id: &str) -> GetInstanceRequest {
    GetInstanceRequest {
        instance_id: id.to_owned(),
        get_inputs_and_outputs: true,
    }
}

fn with_deadline<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

/// The code of a call that must fail.
fn code_of<T: std::fmt::Debug>(result: Result<T, tonic::Status>) -> Result<Code, BoxError> {
    match result {
        Ok(ok) => Err(format!("expected an error, got {ok:?}").into()),
        Err(status) => Ok(status.code()),
    }
}

/// Starts an instance and commits one empty turn, so it is RUNNING.
async fn start_running(c: &mut Client, w: &mut Worker, id: &str) -> TestResult {
    start(c, id, "o").await?;
    let (r, token) = w.next_orchestration().await?;
    w.complete(&r.instance_id, &token, Vec::new()).await?;
    assert_eq!(status(&state(c, id).await?)?, OrchestrationStatus::Running);
    Ok(())
}

#[tokio::test]
async fn completion_wait_with_a_deadline_on_a_running_instance_exceeds_it() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start_running(&mut c, &mut w, "runs").await?;
    let got = tokio::time::timeout(
        WAIT,
        c.wait_for_instance_completion(with_deadline(get("runs"), Duration::from_millis(200))),
    )
    .await?;
    assert_eq!(code_of(got)?, Code::DeadlineExceeded);
    Ok(())
}

#[tokio::test]
async fn completion_wait_on_an_unknown_id_exceeds_its_deadline() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let got = tokio::time::timeout(
        WAIT,
        c.wait_for_instance_completion(with_deadline(get("nobody"), Duration::from_millis(200))),
    )
    .await?;
    assert_eq!(code_of(got)?, Code::DeadlineExceeded);
    Ok(())
}

#[tokio::test]
async fn completion_wait_without_a_deadline_returns_when_the_instance_completes() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "no-deadline", "o").await?;
    let (r, token) = w.next_orchestration().await?;
    let mut waiter = c.clone();
    let mut wait = tokio::spawn(async move {
        waiter
            .wait_for_instance_completion(get("no-deadline"))
            .await
            .map(|r| r.into_inner())
    });
    assert!(
        tokio::time::timeout(QUIET, &mut wait).await.is_err(),
        "the wait returned before the instance completed"
    );
    w.complete(&r.instance_id, &token, vec![complete(1, "\"done\"")])
        .await?;
    let got = tokio::time::timeout(WAIT, wait).await???;
    let st = got.orchestration_state.ok_or("no state")?;
    assert_eq!(status(&st)?, OrchestrationStatus::Completed);
    assert_eq!(st.output.as_deref(), Some("\"done\""));
    Ok(())
}

#[tokio::test]
async fn start_wait_returns_once_the_first_turn_is_committed() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "starting", "o").await?;
    // Dispatched but not yet answered: still PENDING.
    let (r, token) = w.next_orchestration().await?;
    let mut waiter = c.clone();
    let mut wait = tokio::spawn(async move {
        waiter
            .wait_for_instance_start(get("starting"))
            .await
            .map(|r| r.into_inner())
    });
    assert!(
        tokio::time::timeout(QUIET, &mut wait).await.is_err(),
        "the start wait returned before the first turn was committed"
    );
    w.complete(&r.instance_id, &token, Vec::new()).await?;
    let got = tokio::time::timeout(WAIT, wait).await???;
    let st = got.orchestration_state.ok_or("no state")?;
    assert_eq!(status(&st)?, OrchestrationStatus::Running);
    Ok(())
}

#[tokio::test]
async fn abandoned_waits_do_not_disturb_later_waits() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "waited", "o").await?;
    let (r, token) = w.next_orchestration().await?;

    // A wait on its own connection, dropped together with the connection.
    let mut own = connect(&backend).await?;
    let dropped = tokio::spawn(async move {
        let _ = own.wait_for_instance_completion(get("waited")).await;
    });
    // A wait on the shared connection whose future is dropped (the call is cancelled).
    let mut shared = c.clone();
    let cancelled =
        tokio::time::timeout(QUIET, shared.wait_for_instance_completion(get("waited"))).await;
    assert!(cancelled.is_err(), "the wait returned early: {cancelled:?}");
    dropped.abort();
    let _ = dropped.await;

    // Later waits, with and without a deadline, still see the completion.
    let mut plain = c.clone();
    let mut later = tokio::spawn(async move {
        plain
            .wait_for_instance_completion(get("waited"))
            .await
            .map(|r| r.into_inner())
    });
    assert!(
        tokio::time::timeout(Duration::from_millis(50), &mut later)
            .await
            .is_err()
    );
    w.complete(&r.instance_id, &token, vec![complete(1, "1")])
        .await?;
    let got = tokio::time::timeout(WAIT, later).await???;
    assert_eq!(
        status(&got.orchestration_state.ok_or("no state")?)?,
        OrchestrationStatus::Completed
    );
    let bounded = wait_completed(&mut c, "waited").await?;
    assert_eq!(status(&bounded)?, OrchestrationStatus::Completed);
    Ok(())
}

#[tokio::test]
async fn bad_start_requests_are_invalid_arguments() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let rows = [
        (
            "empty name",
            CreateInstanceRequest {
                instance_id: "x".to_owned(),
                ..Default::default()
            },
        ),
        (
            "id starting with @",
            CreateInstanceRequest {
                instance_id: "@counter@1".to_owned(),
                name: "o".to_owned(),
                ..Default::default()
            },
        ),
    ];
    for (row, request) in rows {
        let got = c.start_instance(request).await;
        assert_eq!(code_of(got)?, Code::InvalidArgument, "row {row}");
    }
    Ok(())
}

#[tokio::test]
async fn a_duplicate_id_is_rejected_unless_the_policy_allows_replacing_it() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    let again = |statuses: Vec<OrchestrationStatus>| CreateInstanceRequest {
        instance_id: "dup".to_owned(),
        name: "o".to_owned(),
        orchestration_id_reuse_policy: (!statuses.is_empty()).then(|| OrchestrationIdReusePolicy {
            replaceable_status: statuses.iter().map(|s| *s as i32).collect(),
        }),
        ..Default::default()
    };
    start_running(&mut c, &mut w, "dup").await?;
    let first = state(&mut c, "dup").await?;
    assert_eq!(
        code_of(c.start_instance(again(Vec::new())).await)?,
        Code::AlreadyExists
    );
    assert_eq!(
        code_of(
            c.start_instance(again(vec![OrchestrationStatus::Completed]))
                .await
        )?,
        Code::AlreadyExists,
        "RUNNING is not in [COMPLETED]"
    );
    c.start_instance(again(vec![
        OrchestrationStatus::Running,
        OrchestrationStatus::Pending,
    ]))
    .await?;
    let second = state(&mut c, "dup").await?;
    assert_eq!(status(&second)?, OrchestrationStatus::Pending);
    assert_ne!(second.execution_id, first.execution_id);
    let (r, stale_token) = w.next_orchestration().await?;
    assert_eq!(r.execution_id, second.execution_id);
    // Replacing a PENDING instance (here: dispatched, not yet answered) works too, and the
    // answer meant for the replaced execution is ignored.
    c.start_instance(again(vec![OrchestrationStatus::Pending]))
        .await?;
    let third = state(&mut c, "dup").await?;
    assert_ne!(third.execution_id, second.execution_id);
    let (r, _) = w.next_orchestration().await?;
    assert_eq!(r.execution_id, third.execution_id);
    w.complete("dup", &stale_token, vec![complete(1, "\"stale\"")])
        .await?;
    assert_eq!(
        status(&state(&mut c, "dup").await?)?,
        OrchestrationStatus::Pending
    );
    Ok(())
}

#[tokio::test]
async fn requests_for_unknown_or_unfit_instances_get_clear_codes() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start_running(&mut c, &mut w, "running").await?;
    let rows: Vec<(&str, Result<(), tonic::Status>, Code)> = vec![
        (
            "RaiseEvent unknown",
            c.raise_event(RaiseEventRequest {
                instance_id: "nobody".to_owned(),
                name: "e".to_owned(),
                input: None,
            })
            .await
            .map(drop),
            Code::NotFound,
        ),
        (
            "SuspendInstance unknown",
            c.suspend_instance(SuspendRequest {
                instance_id: "nobody".to_owned(),
                reason: None,
            })
            .await
            .map(drop),
            Code::NotFound,
        ),
        (
            "ResumeInstance unknown",
            c.resume_instance(ResumeRequest {
                instance_id: "nobody".to_owned(),
                reason: None,
            })
            .await
            .map(drop),
            Code::NotFound,
        ),
        (
            "RestartInstance unknown",
            c.restart_instance(RestartInstanceRequest {
                instance_id: "nobody".to_owned(),
                restart_with_new_instance_id: false,
            })
            .await
            .map(drop),
            Code::NotFound,
        ),
        (
            "RestartInstance running",
            c.restart_instance(RestartInstanceRequest {
                instance_id: "running".to_owned(),
                restart_with_new_instance_id: false,
            })
            .await
            .map(drop),
            Code::FailedPrecondition,
        ),
        (
            "PurgeInstances without a request",
            c.purge_instances(PurgeInstancesRequest {
                request: None,
                recursive: false,
                is_orchestration: true,
            })
            .await
            .map(drop),
            Code::InvalidArgument,
        ),
        (
            "QueryInstances with a garbage token",
            c.query_instances(QueryInstancesRequest {
                query: Some(InstanceQuery {
                    continuation_token: Some("garbage".to_owned()),
                    ..Default::default()
                }),
            })
            .await
            .map(drop),
            Code::InvalidArgument,
        ),
        (
            "StreamInstanceHistory unknown",
            history(&mut c, "nobody").await.map(drop).map_err(|e| {
                e.downcast::<tonic::Status>()
                    .map(|s| *s)
                    .unwrap_or_else(|e| tonic::Status::unknown(e.to_string()))
            }),
            Code::NotFound,
        ),
    ];
    for (row, got, want) in rows {
        match got {
            Err(status) if status.code() == want => {}
            other => return Err(format!("row {row}: expected {want:?}, got {other:?}").into()),
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_action_without_a_type_fails_the_orchestration() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    start(&mut c, "malformed", "o").await?;
    let (r, token) = w.next_orchestration().await?;
    let got = w
        .complete(
            &r.instance_id,
            &token,
            vec![OrchestratorAction {
                id: 1,
                orchestrator_action_type: None,
            }],
        )
        .await;
    assert_eq!(code_of(got)?, Code::InvalidArgument);
    let done = wait_completed(&mut c, "malformed").await?;
    assert_eq!(status(&done)?, OrchestrationStatus::Failed);
    let details = done.failure_details.ok_or("no failure details")?;
    assert_eq!(details.error_type, "MalformedOrchestratorResponse");
    w.expect_nothing(QUIET).await?;
    Ok(())
}

#[tokio::test]
async fn an_error_echoing_a_megabyte_id_stays_small() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let got = c
        .raise_event(RaiseEventRequest {
            instance_id: "x".repeat(1_000_000),
            name: "e".to_owned(),
            input: None,
        })
        .await;
    let Err(status) = got else {
        return Err("raising an event on an unknown id succeeded".into());
    };
    assert_eq!(status.code(), Code::NotFound, "{}", status.message());
    assert!(
        status.message().len() < 1024,
        "message of {} bytes",
        status.message().len()
    );
    Ok(())
}

fn timestamp_in(d: Duration) -> Result<prost_types::Timestamp, BoxError> {
    let t = SystemTime::now().duration_since(UNIX_EPOCH)? + d;
    Ok(prost_types::Timestamp {
        seconds: i64::try_from(t.as_secs())?,
        nanos: i32::try_from(t.subsec_nanos())?,
    })
}

fn scheduled(id: &str, at: prost_types::Timestamp) -> CreateInstanceRequest {
    CreateInstanceRequest {
        instance_id: id.to_owned(),
        name: "o".to_owned(),
        scheduled_start_timestamp: Some(at),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_scheduled_start_delays_the_first_work_item() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    let at = timestamp_in(Duration::from_millis(500))?;
    c.start_instance(scheduled("later", at)).await?;
    w.expect_nothing(Duration::from_millis(300)).await?;
    assert_eq!(
        status(&state(&mut c, "later").await?)?,
        OrchestrationStatus::Pending
    );
    let (r, _) = w.next_orchestration().await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let due = Duration::new(u64::try_from(at.seconds)?, u32::try_from(at.nanos)?);
    assert!(now >= due, "dispatched {:?} early", due - now);
    let es = execution_started(&r.new_events).ok_or("no executionStarted")?;
    assert_eq!(es.scheduled_start_timestamp, Some(at));
    Ok(())
}

#[tokio::test]
async fn terminating_before_the_scheduled_start_ends_the_instance_at_once() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    c.start_instance(scheduled(
        "never",
        timestamp_in(Duration::from_millis(500))?,
    ))
    .await?;
    c.terminate_instance(TerminateRequest {
        instance_id: "never".to_owned(),
        output: Some("\"stop\"".to_owned()),
        recursive: true,
    })
    .await?;
    let got = state(&mut c, "never").await?;
    assert_eq!(status(&got)?, OrchestrationStatus::Terminated);
    assert_eq!(got.output.as_deref(), Some("\"stop\""));
    // Past the scheduled time, still nothing is dispatched.
    w.expect_nothing(Duration::from_millis(700)).await?;
    Ok(())
}

#[tokio::test]
async fn a_scheduled_start_at_the_epoch_means_now() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut w = Worker::connect(&backend, None).await?;
    c.start_instance(scheduled("epoch", prost_types::Timestamp::default()))
        .await?;
    let item = w.next_within(Duration::from_millis(500)).await?;
    assert!(item.is_some(), "an epoch start was not dispatched at once");
    Ok(())
}
