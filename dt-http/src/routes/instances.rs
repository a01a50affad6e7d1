//! Reading and starting instances: the filtered, paged list, one instance, its history, start.

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody, JsonBody, QueryParams};
use crate::json::{self, Accepted, History, Instance, InstancePage, StartRequest, Status};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use dt_proto::InstanceQuery;
use dt_store::{CreateInstance, Store};
use serde::Deserialize;
use utoipa::IntoParams;

/// The most instances one page may hold.
const MAX_PAGE: usize = 1000;
/// The page size when none is asked for.
const DEFAULT_PAGE: usize = 100;
/// How many instances to read from the store at a time when filtering by name.
const NAME_SCAN_BATCH: usize = 200;

/// Filters of `GET /api/v1/instances`.
#[derive(Deserialize, IntoParams, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// Only instances in these statuses (repeat the parameter for several).
    #[serde(default)]
    #[param(style = Form, explode)]
    status: Vec<Status>,
    /// Only orchestrations whose name starts with this.
    name_prefix: Option<String>,
    /// Only instances whose id starts with this.
    instance_id_prefix: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    created_from: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    created_to: Option<String>,
    /// At most this many instances (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    page_size: Option<usize>,
    /// From the previous page's `continuationToken`.
    continuation_token: Option<String>,
}

/// Where a page starts: the store's own page token, and how many instances of that store page
/// were already shown (a name filter can end a page in the middle of a store page).
struct Cursor {
    store_token: Option<String>,
    skip: usize,
}

impl Cursor {
    fn parse(token: Option<&str>) -> ApiResult<Self> {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Ok(Self {
                store_token: None,
                skip: 0,
            });
        };
        let bad = || ApiError::bad_request("invalid continuationToken");
        let (skip, store) = token.split_once('.').ok_or_else(bad)?;
        Ok(Self {
            skip: skip.parse().map_err(|_| bad())?,
            store_token: Some(store.to_owned()).filter(|s| !s.is_empty()),
        })
    }

    fn render(&self) -> String {
        format!(
            "{}.{}",
            self.skip,
            self.store_token.as_deref().unwrap_or("")
        )
    }
}

/// Instances in creation order, filtered and paged.
#[utoipa::path(get, path = "/api/v1/instances", params(ListParams), tag = "instances",
    responses((status = 200, body = InstancePage), (status = 400, body = ErrorBody)))]
pub(crate) async fn list_instances(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<InstancePage>> {
    let page_size = params.page_size.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&page_size) {
        return Err(ApiError::bad_request(format!(
            "pageSize must be between 1 and {MAX_PAGE}"
        )));
    }
    let base = InstanceQuery {
        runtime_status: params
            .status
            .iter()
            .map(|s| dt_core::RuntimeStatus::from(*s).to_wire() as i32)
            .collect(),
        created_time_from: params
            .created_from
            .as_deref()
            .map(|t| json::parse_time("createdFrom", t))
            .transpose()?,
        created_time_to: params
            .created_to
            .as_deref()
            .map(|t| json::parse_time("createdTo", t))
            .transpose()?,
        instance_id_prefix: params.instance_id_prefix.clone(),
        ..Default::default()
    };
    let name_prefix = params.name_prefix.as_deref().unwrap_or("");
    let mut cursor = Cursor::parse(params.continuation_token.as_deref())?;
    let mut instances = Vec::new();
    // Reads store pages until this page is full or the store has no more. Without a name
    // filter every store item is kept, so one store page of the right size does.
    loop {
        let batch = if name_prefix.is_empty() {
            cursor.skip + page_size - instances.len()
        } else {
            cursor.skip + NAME_SCAN_BATCH
        };
        let page = state
            .store
            .query_instances(InstanceQuery {
                max_instance_count: i32::try_from(batch).unwrap_or(i32::MAX),
                continuation_token: cursor.store_token.clone(),
                ..base.clone()
            })
            .await?;
        let count = page.items.len();
        let mut full_at = None;
        for (i, item) in page.items.into_iter().enumerate().skip(cursor.skip) {
            if item.name.starts_with(name_prefix) {
                instances.push(Instance::from(item));
                if instances.len() == page_size {
                    full_at = Some(i);
                    break;
                }
            }
        }
        match (full_at, page.continuation_token) {
            // Full in the middle of the store page: the next page resumes inside it.
            (Some(i), _) if i + 1 < count => {
                cursor.skip = i + 1;
                return Ok(Json(InstancePage {
                    instances,
                    continuation_token: Some(cursor.render()),
                }));
            }
            (_, None) => {
                return Ok(Json(InstancePage {
                    instances,
                    continuation_token: None,
                }));
            }
            (full, Some(next)) => {
                cursor = Cursor {
                    store_token: Some(next),
                    skip: 0,
                };
                if full.is_some() {
                    return Ok(Json(InstancePage {
                        instances,
                        continuation_token: Some(cursor.render()),
                    }));
                }
            }
        }
    }
}

/// Reads an instance (with its payloads if asked); 404 if unknown.
pub(crate) async fn existing(
    store: &dyn Store,
    id: &str,
    payloads: bool,
) -> ApiResult<dt_proto::OrchestrationState> {
    store.get_instance(id, payloads).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no orchestration instance with id '{}'",
            dt_store::clip(id)
        ))
    })
}

/// One instance with its input, output, custom status and failure.
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, body = Instance), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_instance(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Instance>> {
    Ok(Json(
        existing(state.store.as_ref(), &id, true).await?.into(),
    ))
}

/// The committed history of the instance's current execution.
#[utoipa::path(get, path = "/api/v1/instances/{id}/history", tag = "instances",
    params(("id" = String, Path, description = "Instance id")),
    responses((status = 200, body = History), (status = 404, body = ErrorBody)))]
pub(crate) async fn instance_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<History>> {
    let events = state.store.instance_history(&id, None).await?;
    Ok(Json(History {
        events: events.into_iter().map(Into::into).collect(),
    }))
}

/// Starts an orchestration.
#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", request_body = StartRequest,
    responses((status = 201, body = Accepted), (status = 400, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The id is taken"),
        (status = 415, body = ErrorBody)))]
pub(crate) async fn start_instance(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<StartRequest>,
) -> ApiResult<impl IntoResponse> {
    let spec = request.into_new_instance()?;
    dt_store::check_new_instance(&spec)?;
    let instance_id = state
        .store
        .create_instance(CreateInstance::from(spec))
        .await?;
    let location = format!("/api/v1/instances/{}", percent_encode(&instance_id));
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(Accepted { instance_id }),
    ))
}

/// Escapes everything but unreserved characters, for an id in a URL path.
fn percent_encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
