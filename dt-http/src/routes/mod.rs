//! The route table: the API under `/api/v1`, the page and its assets, `/metrics`, `/healthz`.

mod actions;
mod entities;
mod instances;
mod ops;

pub(crate) use actions::*;
pub(crate) use entities::*;
pub(crate) use instances::*;
pub(crate) use ops::*;

use crate::error::ApiError;
use crate::{AppState, assets, auth, conn, feed, openapi};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub(crate) fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/instances", get(list_instances).post(start_instance))
        .route("/instances/{id}", get(get_instance).delete(purge_instance))
        .route("/instances/{id}/history", get(instance_history))
        .route("/instances/{id}/raise-event", post(raise_event))
        .route("/instances/{id}/terminate", post(terminate))
        .route("/instances/{id}/suspend", post(suspend))
        .route("/instances/{id}/resume", post(resume))
        .route("/instances/{id}/restart", post(restart))
        .route("/instances/{id}/rewind", post(rewind))
        .route("/entities", get(list_entities))
        .route("/entities/{id}", get(get_entity))
        .route("/entities/{id}/signal", post(signal_entity))
        .route("/stats", get(stats))
        .route("/info", get(info))
        .route("/events", get(feed::events))
        .route("/openapi.json", get(openapi::document))
        .fallback(api_not_found)
        .layer(middleware::from_fn_with_state(state.clone(), refuse_writes))
        .layer(DefaultBodyLimit::max(
            state.options.limits.max_message_bytes,
        ))
        // Outside the write check: a caller without a token learns nothing else.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .nest("/api/v1", api)
        .route(
            "/metrics",
            get(metrics).layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_token,
            )),
        )
        .route("/healthz", get(healthz))
        .merge(assets::router())
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
        .layer(middleware::from_fn(assets::security_headers))
        .layer(middleware::from_fn(conn::count_calls))
        .with_state(state)
}

/// Refuses a request whose `Host` is not one the server is known by (see
/// `HttpOptions::allowed_hosts`).
async fn check_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let allowed = &state.options.allowed_hosts;
    if !allowed.is_empty() {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        // `name:port`, `[v6]:port`, or a bare name.
        let name = match host.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                name
            }
            _ => host,
        };
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return ApiError::forbidden_host(host).into_response();
        }
    }
    next.run(request).await
}

/// With `--read-only`, every call but a read is refused before it reaches a handler.
async fn refuse_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.options.read_only && !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::read_only().into_response();
    }
    next.run(request).await
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API route; see /api/v1/openapi.json")
}
