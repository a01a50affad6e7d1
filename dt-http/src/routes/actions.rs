//! Acting on one instance: raise an event, terminate, suspend, resume, restart, rewind, purge.
//!
//! Each calls the store method gRPC calls. Some of those methods leave an unknown or finished
//! instance alone without an error (the protocol wants that); an admin asking for it gets told
//! instead: 404 for an unknown id, 409 for a finished instance that the action cannot change.

use super::instances::existing;
use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody, QueryParams};
use crate::json::{
    Accepted, Purged, RaiseEventRequest, ReasonRequest, RestartRequest, Status, TerminateRequest,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dt_core::RuntimeStatus;
use dt_store::{PurgeTarget, Store, clip};
use serde::Deserialize;
use utoipa::IntoParams;

type Answer = ApiResult<(StatusCode, Json<Accepted>)>;

fn accepted(instance_id: String) -> Answer {
    Ok((StatusCode::ACCEPTED, Json(Accepted { instance_id })))
}

/// Whether an instance in this state has finished (completed, failed, terminated).
fn finished(state: &dt_proto::OrchestrationState) -> bool {
    RuntimeStatus::from_wire_i32(state.orchestration_status).is_some_and(|s| s.is_terminal())
}

/// 404 if unknown, 409 if it has finished: what actions on running instances require.
async fn live(store: &dyn Store, id: &str, action: &str) -> ApiResult<()> {
    let state = existing(store, id, false).await?;
    if finished(&state) {
        let status = Status::of(&state).map_or("finished", Status::name);
        return Err(ApiError::conflict(format!(
            "cannot {action} instance '{}': it is {status} already",
            clip(id)
        )));
    }
    Ok(())
}

/// Sends an external event to a running instance.
#[utoipa::path(post, path = "/api/v1/instances/{id}/raise-event", tag = "actions",
    params(("id" = String, Path, description = "Instance id")), request_body = RaiseEventRequest,
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn raise_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RaiseEventRequest>,
) -> Answer {
    live(state.store.as_ref(), &id, "raise an event on").await?;
    let data = body.data.map(|d| d.to_string());
    state.store.raise_event(&id, body.name, data).await?;
    accepted(id)
}

/// Terminates a running instance (with `recursive`, its sub-orchestrations too).
#[utoipa::path(post, path = "/api/v1/instances/{id}/terminate", tag = "actions",
    params(("id" = String, Path, description = "Instance id")), request_body = TerminateRequest,
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn terminate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<TerminateRequest>,
) -> Answer {
    live(state.store.as_ref(), &id, "terminate").await?;
    let reason = body
        .reason
        .map(|r| serde_json::Value::String(r).to_string());
    state
        .store
        .terminate_instance(&id, reason, body.recursive)
        .await?;
    accepted(id)
}

/// Suspends a running instance.
#[utoipa::path(post, path = "/api/v1/instances/{id}/suspend", tag = "actions",
    params(("id" = String, Path, description = "Instance id")), request_body = ReasonRequest,
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn suspend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Answer {
    live(state.store.as_ref(), &id, "suspend").await?;
    state.store.suspend_instance(&id, body.reason).await?;
    accepted(id)
}

/// Resumes a suspended instance.
#[utoipa::path(post, path = "/api/v1/instances/{id}/resume", tag = "actions",
    params(("id" = String, Path, description = "Instance id")), request_body = ReasonRequest,
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Answer {
    live(state.store.as_ref(), &id, "resume").await?;
    state.store.resume_instance(&id, body.reason).await?;
    accepted(id)
}

/// Starts a finished instance again with its name, version, input and tags.
#[utoipa::path(post, path = "/api/v1/instances/{id}/restart", tag = "actions",
    params(("id" = String, Path, description = "Instance id")), request_body = RestartRequest,
    responses((status = 202, body = Accepted, description = "The restarted instance's id"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not finished"),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn restart(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RestartRequest>,
) -> Answer {
    let new_id = state
        .store
        .restart_instance(&id, body.new_instance_id)
        .await?;
    accepted(new_id)
}

/// Reopens a failed instance: its failed tasks run again.
#[utoipa::path(post, path = "/api/v1/instances/{id}/rewind", tag = "actions",
    params(("id" = String, Path, description = "Instance id")), request_body = ReasonRequest,
    responses((status = 202, body = Accepted), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Not failed"),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn rewind(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ReasonRequest>,
) -> Answer {
    state.store.rewind_instance(&id, body.reason).await?;
    accepted(id)
}

/// Options of a purge.
#[derive(Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PurgeParams {
    /// Also purge its sub-orchestrations.
    #[serde(default)]
    recursive: bool,
}

/// Deletes a finished instance and its history.
#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "actions",
    params(("id" = String, Path, description = "Instance id"), PurgeParams),
    responses((status = 200, body = Purged), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not finished")))]
pub(crate) async fn purge_instance(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(params): QueryParams<PurgeParams>,
) -> ApiResult<Json<Purged>> {
    let current = existing(state.store.as_ref(), &id, false).await?;
    if !finished(&current) {
        return Err(ApiError::conflict(format!(
            "instance '{}' has not finished; terminate it before purging",
            clip(&id)
        )));
    }
    let deleted_instance_count = state
        .store
        .purge_instances(PurgeTarget::Instance(id), params.recursive)
        .await?;
    Ok(Json(Purged {
        deleted_instance_count,
    }))
}
