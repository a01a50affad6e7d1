//! Operability: counts by status and work in flight (`/api/v1/stats`), what the page needs to
//! know about the server (`/api/v1/info`), `/metrics` and `/healthz`.

use crate::AppState;
use crate::error::{ApiResult, ErrorBody};
use crate::json::Status;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use dt_store::{PerKind, STATUSES, Store, WorkKind};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What the store holds now, and the work that went through it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stats {
    /// Instances by status; every status is listed, zero included.
    #[schema(value_type = Object)]
    instances: BTreeMap<&'static str, u64>,
    /// Every instance.
    total: u64,
    /// Connected worker streams.
    workers: u64,
    /// Timers, delayed starts and backoffs waiting for their time.
    scheduled: u64,
    /// Work items by kind (`orchestration`, `activity`, `entity`).
    work_items: WorkItems,
}

/// Work items by stage, each by kind.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkItems {
    /// Waiting for a worker.
    #[schema(value_type = Object)]
    queued: BTreeMap<&'static str, u64>,
    /// Held by workers now.
    #[schema(value_type = Object)]
    leased: BTreeMap<&'static str, u64>,
    /// Handed to workers since start.
    #[schema(value_type = Object)]
    dispatched: BTreeMap<&'static str, u64>,
    /// Answered since start.
    #[schema(value_type = Object)]
    completed: BTreeMap<&'static str, u64>,
    /// Given back by workers since start.
    #[schema(value_type = Object)]
    abandoned: BTreeMap<&'static str, u64>,
    /// Dispatched again because the worker disconnected, since start.
    #[schema(value_type = Object)]
    lost_on_disconnect: BTreeMap<&'static str, u64>,
    /// Dispatched again because the lease expired, since start.
    #[schema(value_type = Object)]
    lost_on_expiry: BTreeMap<&'static str, u64>,
}

fn by_kind(counts: PerKind) -> BTreeMap<&'static str, u64> {
    WorkKind::ALL
        .into_iter()
        .map(|k| (k.name(), counts.get(k)))
        .collect()
}

/// Counts by status, workers, and work items by stage and kind.
#[utoipa::path(get, path = "/api/v1/stats", tag = "operations",
    responses((status = 200, body = Stats), (status = 500, body = ErrorBody)))]
pub(crate) async fn stats(State(state): State<AppState>) -> ApiResult<Json<Stats>> {
    let s = state.store.stats().await?;
    let work = state.store.work_counts();
    Ok(Json(Stats {
        instances: STATUSES
            .into_iter()
            .map(|st| (Status::from(st).name(), s.count(st)))
            .collect(),
        total: s.total(),
        workers: s.workers,
        scheduled: s.scheduled,
        work_items: WorkItems {
            queued: by_kind(s.queued),
            leased: by_kind(s.leased),
            dispatched: by_kind(work.dispatched),
            completed: by_kind(work.completed),
            abandoned: by_kind(work.abandoned),
            lost_on_disconnect: by_kind(s.lost_on_disconnect),
            lost_on_expiry: by_kind(s.lost_on_expiry),
        },
    }))
}

/// What the page needs to know about the server.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Info {
    /// The server's version.
    version: &'static str,
    /// State-changing calls are refused.
    read_only: bool,
}

/// The server's version and whether it refuses changes.
#[utoipa::path(get, path = "/api/v1/info", tag = "operations",
    responses((status = 200, body = Info)))]
pub(crate) async fn info(State(state): State<AppState>) -> Json<Info> {
    Json(Info {
        version: env!("CARGO_PKG_VERSION"),
        read_only: state.options.read_only,
    })
}

/// Prometheus metrics (OpenMetrics text).
pub(crate) async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let text = state.metrics.render(state.store.as_ref()).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

/// Liveness: 200 while the store answers.
pub(crate) async fn healthz(State(state): State<AppState>) -> ApiResult<&'static str> {
    state.store.stats().await?;
    Ok("ok\n")
}
