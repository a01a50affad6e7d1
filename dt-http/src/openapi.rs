//! The OpenAPI 3 document of `/api/v1`, generated from the handlers' annotations and the very
//! types they read and write, so it cannot drift from what is served.

use crate::routes::*;
use crate::{error, feed, json};
use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "durabletask-rs admin API",
        description = "Read and act on orchestration instances and entities of a dt-server. \
            State-changing calls take a JSON body with `content-type: application/json`.",
    ),
    paths(
        list_instances,
        start_instance,
        get_instance,
        instance_history,
        raise_event,
        terminate,
        suspend,
        resume,
        restart,
        rewind,
        purge_instance,
        list_entities,
        get_entity,
        signal_entity,
        stats,
        info,
        feed::events,
        document,
    ),
    components(schemas(error::ErrorBody, json::Status, feed::ChangeEvent))
)]
struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3 document")))]
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
