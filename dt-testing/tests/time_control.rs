//! The TimeControl gRPC service through a tonic client: off means off (real time, skips and
//! locks refused), on it skips and counts locks, a stream's hold ends with its client, and it
//! obeys the bearer tokens like the rest.

use dt_proto::testing::v1::time_control_client::TimeControlClient;
use dt_proto::testing::v1::*;
use dt_security::{Security, TokenSet};
use dt_testing::{TestBackend, TestBackendOptions};
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn seconds(t: Option<prost_types::Timestamp>) -> i64 {
    t.map_or(0, |t| t.seconds)
}

fn with_token<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        tonic::metadata::MetadataValue::from_static("Bearer team-token"),
    );
    request
}

#[tokio::test]
async fn off_answers_real_time_and_refuses_skips_and_locks() -> TestResult {
    let backend = TestBackend::start(TestBackendOptions::default()).await?;
    let mut client = TimeControlClient::connect(backend.address()).await?;
    let now = client
        .get_current_time(GetCurrentTimeRequest {})
        .await?
        .into_inner();
    let real = chrono::Utc::now().timestamp();
    assert!((seconds(now.time) - real).abs() <= 5, "{now:?} vs {real}");
    let skip = client
        .skip(SkipRequest {
            duration: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
        })
        .await
        .err()
        .ok_or("a skip with time skipping off succeeded")?;
    assert_eq!(skip.code(), Code::FailedPrecondition);
    assert!(skip.message().contains("time skipping is off"), "{skip:?}");
    let lock = client
        .lock_time_skipping(LockTimeSkippingRequest {})
        .await
        .err()
        .ok_or("a lock with time skipping off succeeded")?;
    assert_eq!(lock.code(), Code::FailedPrecondition);
    let status = client
        .get_time_skipping_status(GetTimeSkippingStatusRequest {})
        .await?
        .into_inner();
    assert!(!status.enabled);
    assert!(backend.skip(Duration::from_secs(1)).await.is_err());
    Ok(())
}

#[tokio::test]
async fn on_it_skips_counts_locks_and_checks_tokens() -> TestResult {
    let mut options = TestBackendOptions {
        time_skipping: true,
        ..Default::default()
    };
    options.serve.security = Security {
        tls: None,
        tokens: Arc::new(TokenSet::new(["team-token"])?),
    };
    let backend = TestBackend::start(options).await?;
    let mut client = TimeControlClient::connect(backend.address()).await?;
    let refused = client
        .get_current_time(GetCurrentTimeRequest {})
        .await
        .err()
        .ok_or("served without a token")?;
    assert_eq!(refused.code(), Code::Unauthenticated);

    client
        .lock_time_skipping(with_token(LockTimeSkippingRequest {}))
        .await?;
    client
        .unlock_time_skipping(with_token(UnlockTimeSkippingRequest {}))
        .await?;
    let unbalanced = client
        .unlock_time_skipping(with_token(UnlockTimeSkippingRequest {}))
        .await
        .err()
        .ok_or("an unbalanced unlock succeeded")?;
    assert_eq!(unbalanced.code(), Code::FailedPrecondition);

    let before = backend.now();
    let skipped = client
        .skip(with_token(SkipRequest {
            duration: Some(prost_types::Duration {
                seconds: 86_400,
                nanos: 0,
            }),
        }))
        .await?
        .into_inner();
    assert!(seconds(skipped.time) >= before.timestamp() + 86_400);
    assert_eq!(skipped.targets_fired, 0);
    assert!(backend.now() >= before + chrono::Duration::days(1));
    let status = client
        .get_time_skipping_status(with_token(GetTimeSkippingStatusRequest {}))
        .await?
        .into_inner();
    assert!(status.enabled);
    assert_eq!((status.demand, status.holds), (0, 0));
    // Measured from each skip's start, so a few microseconds under the day.
    assert!(
        status.skipped.is_some_and(|d| d.seconds >= 86_399),
        "{status:?}"
    );
    Ok(())
}

/// Waits until the backend's holds on automatic skipping number `want`.
async fn holds_become(backend: &TestBackend, want: u32) -> TestResult {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let holds = backend.time_skipping().status().await?.holds;
        if holds == want {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("holds stayed at {holds}, expected {want}").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_stream_hold_ends_when_its_client_goes_away() -> TestResult {
    let backend = TestBackend::start(TestBackendOptions {
        time_skipping: true,
        ..Default::default()
    })
    .await?;
    let mut client = TimeControlClient::connect(backend.address()).await?;
    let mut hold = client
        .hold_time_skipping(HoldTimeSkippingRequest {})
        .await?
        .into_inner();
    hold.message().await?.ok_or("the hold was not confirmed")?;
    assert_eq!(backend.time_skipping().status().await?.holds, 1);
    // A second, counted hold from the same client, released explicitly, leaves the stream's.
    client
        .lock_time_skipping(LockTimeSkippingRequest {})
        .await?;
    client
        .unlock_time_skipping(UnlockTimeSkippingRequest {})
        .await?;
    assert_eq!(backend.time_skipping().status().await?.holds, 1);
    drop(hold);
    drop(client);
    holds_become(&backend, 0).await
}

#[tokio::test]
async fn a_stream_hold_is_refused_when_skipping_is_off() -> TestResult {
    let backend = TestBackend::start(TestBackendOptions::default()).await?;
    let mut client = TimeControlClient::connect(backend.address()).await?;
    let refused = client
        .hold_time_skipping(HoldTimeSkippingRequest {})
        .await
        .err()
        .ok_or("a hold with time skipping off succeeded")?;
    assert_eq!(refused.code(), Code::FailedPrecondition);
    Ok(())
}
