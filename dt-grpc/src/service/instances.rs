//! Client-facing instance RPCs that need more than one line: start, waits, purge, history.

use super::{ServerStream, SidecarService};
use crate::convert;
use crate::deadline::caller_timeout;
use crate::status::to_status;
use dt_proto::*;
use dt_store::{Store, WaitCondition};
use std::time::Duration;
use tonic::{Request, Response, Status};

/// Events per `HistoryChunk`.
const HISTORY_CHUNK: usize = 100;

/// Answering a little before the caller's deadline lets our DEADLINE_EXCEEDED reach it rather
/// than racing its own timer.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

pub(super) async fn start(
    store: &dyn Store,
    request: CreateInstanceRequest,
) -> Result<Response<CreateInstanceResponse>, Status> {
    let create = convert::create_instance(request)?;
    let instance_id = store.create_instance(create).await.map_err(to_status)?;
    Ok(Response::new(CreateInstanceResponse { instance_id }))
}

pub(super) fn instance_response(state: Option<OrchestrationState>) -> GetInstanceResponse {
    GetInstanceResponse {
        exists: state.is_some(),
        orchestration_state: state,
    }
}

/// A long poll: waits for the condition until the caller's deadline or the server's wait
/// limit, whichever comes first (the JavaScript SDK sends no deadline), and ends early on
/// server shutdown. When the caller goes away tonic drops this future, which frees the wait.
pub(super) async fn wait(
    service: &SidecarService,
    request: Request<GetInstanceRequest>,
    condition: WaitCondition,
) -> Result<Response<GetInstanceResponse>, Status> {
    let limit = wait_limit(caller_timeout(request.metadata()), service.max_wait);
    let request = request.into_inner();
    let waiting = service.store.wait_for_instance(
        &request.instance_id,
        condition,
        request.get_inputs_and_outputs,
    );
    let bounded = async {
        tokio::time::timeout(limit.duration, waiting)
            .await
            .map_err(|_| Status::deadline_exceeded(limit.message()))?
            .map_err(to_status)
    };
    let mut shutdown = service.shutdown.clone();
    // Demand for time skipping while the wait is open (released when tonic drops the call).
    let _demand = service.time.as_ref().map(|t| t.demand());
    let exhausted = async {
        match &service.time {
            Some(time) => time.budget_exhausted().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        state = bounded => Ok(Response::new(instance_response(Some(state?)))),
        _ = shutdown.wait_for(|down| *down) => Err(Status::unavailable("the server is shutting down")),
        () = exhausted => Err(Status::failed_precondition(format!(
            "time skipping stopped: the budget of {} skips for this wait is spent (does an \
             orchestration loop on timers?); see GetTimeSkippingStatus",
            crate::skipping::SKIP_BUDGET
        ))),
    }
}

/// How long a wait may last, and which bound that is.
#[derive(Debug, PartialEq)]
struct WaitLimit {
    duration: Duration,
    server_cap: bool,
}

impl WaitLimit {
    fn message(&self) -> &'static str {
        if self.server_cap {
            "the instance did not reach the awaited state within the server's wait limit \
             (--max-wait-seconds); wait again"
        } else {
            "the instance did not reach the awaited state in time"
        }
    }
}

fn wait_limit(caller: Option<Duration>, cap: Duration) -> WaitLimit {
    match caller.map(|t| t.saturating_sub(DEADLINE_MARGIN)) {
        Some(t) if t <= cap => WaitLimit {
            duration: t,
            server_cap: false,
        },
        _ => WaitLimit {
            duration: cap,
            server_cap: true,
        },
    }
}

pub(super) async fn purge(
    store: &dyn Store,
    request: PurgeInstancesRequest,
) -> Result<Response<PurgeInstancesResponse>, Status> {
    // isOrchestration is not a reliable signal (the Python client leaves it false on filter
    // purges); the store tells entity ids ('@name@key') apart itself.
    let target = convert::purge_target(request.request)?;
    let count = store
        .purge_instances(target, request.recursive)
        .await
        .map_err(to_status)?;
    Ok(Response::new(PurgeInstancesResponse {
        deleted_instance_count: i32::try_from(count).unwrap_or(i32::MAX),
        is_complete: Some(true),
    }))
}

pub(super) async fn stream_history(
    store: &dyn Store,
    request: StreamInstanceHistoryRequest,
) -> Result<Response<ServerStream<HistoryChunk>>, Status> {
    let events = store
        .instance_history(&request.instance_id, request.execution_id.as_deref())
        .await
        .map_err(to_status)?;
    let chunks: Vec<Result<HistoryChunk, Status>> = events
        .chunks(HISTORY_CHUNK)
        .map(|c| Ok(HistoryChunk { events: c.to_vec() }))
        .collect();
    Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shorter_of_the_callers_deadline_and_the_cap() {
        let cap = Duration::from_secs(60);
        let rows = [
            (None, Duration::from_secs(60), true),
            (
                Some(Duration::from_secs(10)),
                Duration::from_millis(9980),
                false,
            ),
            (
                Some(Duration::from_secs(600)),
                Duration::from_secs(60),
                true,
            ),
            (Some(Duration::from_millis(5)), Duration::ZERO, false),
        ];
        for (caller, duration, server_cap) in rows {
            assert_eq!(
                wait_limit(caller, cap),
                WaitLimit {
                    duration,
                    server_cap
                },
                "{caller:?}"
            );
        }
    }
}
