//! Many requests in flight on one connection, as a busy Rust client sends them: HTTP/2's
//! protection against floods of small frames must not close a connection that is only busy.

mod common;

use common::*;
use dt_proto::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_concurrent_calls_on_one_connection_all_succeed() -> TestResult {
    let backend = backend().await?;
    let client = connect(&backend).await?;
    let calls = (0..5_000).map(|i| {
        let mut c = client.clone();
        tokio::spawn(async move {
            c.start_instance(CreateInstanceRequest {
                instance_id: format!("load-{i}"),
                name: "o".into(),
                input: Some("\"payload\"".into()),
                ..Default::default()
            })
            .await
        })
    });
    let mut failed = Vec::new();
    for call in calls.collect::<Vec<_>>() {
        if let Err(status) = call.await? {
            failed.push(status);
        }
    }
    assert!(
        failed.is_empty(),
        "{} calls failed, first: {:?}",
        failed.len(),
        failed.first()
    );
    Ok(())
}
