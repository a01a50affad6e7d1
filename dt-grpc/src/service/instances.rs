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

/// A long poll: waits for the condition until the caller's deadline (or forever without one,
/// as the JavaScript SDK sends), and ends early on server shutdown. When the caller goes away
/// tonic drops this future, which frees the wait.
pub(super) async fn wait(
    service: &SidecarService,
    request: Request<GetInstanceRequest>,
    condition: WaitCondition,
) -> Result<Response<GetInstanceResponse>, Status> {
    let timeout = caller_timeout(request.metadata());
    let request = request.into_inner();
    let waiting = service.store.wait_for_instance(
        &request.instance_id,
        condition,
        request.get_inputs_and_outputs,
    );
    let bounded = async {
        match timeout {
            Some(t) => tokio::time::timeout(t.saturating_sub(DEADLINE_MARGIN), waiting)
                .await
                .map_err(|_| {
                    Status::deadline_exceeded(
                        "the instance did not reach the awaited state in time",
                    )
                })?,
            None => waiting.await,
        }
        .map_err(to_status)
    };
    let mut shutdown = service.shutdown.clone();
    tokio::select! {
        state = bounded => Ok(Response::new(instance_response(Some(state?)))),
        _ = shutdown.wait_for(|down| *down) => Err(Status::unavailable("the server is shutting down")),
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
