//! Task-hub RPCs (one hub per server: create with `recreateIfExists` and delete both empty it)
//! and SkipGracefulOrchestrationTerminations (terminate in storage, no worker round-trip).

mod common;

use common::*;
use dt_proto::*;

async fn exists(c: &mut Client, id: &str) -> Result<bool, BoxError> {
    Ok(c.get_instance(GetInstanceRequest {
        instance_id: id.to_owned(),
        get_inputs_and_outputs: false,
    })
    .await?
    .into_inner()
    .exists)
}

#[tokio::test]
async fn create_keeps_the_hub_unless_asked_to_recreate_and_delete_empties_it() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    start(&mut c, "kept", "o").await?;
    c.create_task_hub(CreateTaskHubRequest {
        recreate_if_exists: false,
    })
    .await?;
    assert!(
        exists(&mut c, "kept").await?,
        "CreateTaskHub without recreate removed an instance"
    );
    c.create_task_hub(CreateTaskHubRequest {
        recreate_if_exists: true,
    })
    .await?;
    assert!(
        !exists(&mut c, "kept").await?,
        "recreateIfExists kept an instance"
    );

    start(&mut c, "deleted", "o").await?;
    c.delete_task_hub(DeleteTaskHubRequest {}).await?;
    assert!(!exists(&mut c, "deleted").await?);
    // Deleting twice is fine, and the hub is usable afterwards.
    c.delete_task_hub(DeleteTaskHubRequest {}).await?;
    assert_eq!(start(&mut c, "deleted", "o").await?, "deleted");
    Ok(())
}

#[tokio::test]
async fn skip_graceful_termination_terminates_in_storage() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let mut worker = Worker::connect(&backend, None).await?;
    start(&mut c, "running", "o").await?;
    let (_, token) = worker.next_orchestration().await?;
    worker.complete("running", &token, vec![]).await?;
    start(&mut c, "done", "o").await?;
    let (_, token) = worker.next_orchestration().await?;
    worker
        .complete("done", &token, vec![complete(1, "1")])
        .await?;

    let response = c
        .skip_graceful_orchestration_terminations(SkipGracefulOrchestrationTerminationsRequest {
            instance_batch: Some(InstanceBatch {
                instance_ids: vec!["running".into(), "done".into(), "unknown".into()],
            }),
            reason: Some("\"maintenance\"".into()),
        })
        .await?
        .into_inner();
    assert_eq!(response.unterminated_instance_ids, ["done", "unknown"]);
    let terminated = state(&mut c, "running").await?;
    assert_eq!(status(&terminated)?, OrchestrationStatus::Terminated);
    assert_eq!(terminated.output.as_deref(), Some("\"maintenance\""));
    assert_eq!(
        status(&state(&mut c, "done").await?)?,
        OrchestrationStatus::Completed
    );
    // No worker round-trip: nothing is dispatched for the terminated instance.
    worker.expect_nothing(QUIET).await?;
    let events = history(&mut c, "running").await?;
    assert_eq!(
        kind(events.last().ok_or("empty history")?),
        "ExecutionCompleted"
    );
    Ok(())
}

#[tokio::test]
async fn skip_graceful_termination_rejects_oversized_batches() -> TestResult {
    let backend = backend().await?;
    let mut c = connect(&backend).await?;
    let err = c
        .skip_graceful_orchestration_terminations(SkipGracefulOrchestrationTerminationsRequest {
            instance_batch: Some(InstanceBatch {
                instance_ids: (0..501).map(|i| i.to_string()).collect(),
            }),
            reason: None,
        })
        .await
        .err()
        .ok_or("accepted 501 ids")?;
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    Ok(())
}
