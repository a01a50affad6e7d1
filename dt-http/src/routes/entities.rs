//! Durable entities: the paged list, one entity with its state, and signalling one.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody, QueryParams};
use crate::json::{Entity, EntityPage, SignalRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dt_proto::{EntityQuery, SignalEntityRequest};
use dt_store::{Store, clip};
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters of `GET /api/v1/entities`.
#[derive(Deserialize, IntoParams, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EntityParams {
    /// Only entities whose id (`@name@key`) starts with this.
    id_prefix: Option<String>,
    /// Include each entity's state (default true).
    include_state: Option<bool>,
    /// At most this many entities (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<i32>,
    /// From the previous page's `continuationToken`.
    continuation_token: Option<String>,
}

/// Entities with state, in id order, paged.
#[utoipa::path(get, path = "/api/v1/entities", params(EntityParams), tag = "entities",
    responses((status = 200, body = EntityPage), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_entities(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<EntityParams>,
) -> ApiResult<Json<EntityPage>> {
    let page_size = params.page_size.unwrap_or(100);
    if !(1..=1000).contains(&page_size) {
        return Err(ApiError::bad_request("pageSize must be between 1 and 1000"));
    }
    let page = state
        .store
        .query_entities(EntityQuery {
            instance_id_starts_with: params.id_prefix,
            include_state: params.include_state.unwrap_or(true),
            include_transient: false,
            page_size: Some(page_size),
            continuation_token: params.continuation_token,
            ..Default::default()
        })
        .await?;
    Ok(Json(EntityPage {
        entities: page.items.into_iter().map(Into::into).collect(),
        continuation_token: page.continuation_token,
    }))
}

/// One entity with its state; 404 if it has none.
#[utoipa::path(get, path = "/api/v1/entities/{id}", tag = "entities",
    params(("id" = String, Path, description = "Entity id, `@name@key`")),
    responses((status = 200, body = Entity), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_entity(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Entity>> {
    let entity = state
        .store
        .get_entity(&id, true)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no entity with id '{}'", clip(&id))))?;
    Ok(Json(entity.into()))
}

/// Queues an operation on an entity (created if needed).
#[utoipa::path(post, path = "/api/v1/entities/{id}/signal", tag = "entities",
    params(("id" = String, Path, description = "Entity id, `@name@key`", pattern = "^@[^@]+@")),
    request_body = SignalRequest,
    responses((status = 202, description = "Queued"), (status = 400, body = ErrorBody),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn signal_entity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SignalRequest>,
) -> ApiResult<StatusCode> {
    state
        .store
        .signal_entity(SignalEntityRequest {
            instance_id: id,
            name: body.operation,
            input: body.input.map(|v| v.to_string()),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        })
        .await?;
    Ok(StatusCode::ACCEPTED)
}
