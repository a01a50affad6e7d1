//! The OpenAPI 3 document of `/api/v1`, generated from the handlers' annotations and the very
//! types they read and write, so it cannot drift from what is served.

use crate::routes::*;
use crate::{error, feed, json};
use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    components(schemas(error::ErrorBody, json::Status, feed::ChangeEvent)),
    modifiers(&BearerTokens)
)]
struct ApiDoc;

/// Declares the bearer token every `/api/v1` call needs when the server has tokens
/// (`--auth-token-file`, `DT_AUTH_TOKEN`), the 401 it answers without one, and the 413 for a
/// body over `--max-message-bytes`. A server without tokens takes calls without one, so the
/// requirement lists "none" as an alternative.
struct BearerTokens;

impl Modify for BearerTokens {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        openapi.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]);
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                add_refusals(operation);
            }
        }
    }
}

fn add_refusals(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    responses.insert(
        "401".to_owned(),
        Response::new(
            "The server has tokens and the call carries none of them \
             (`authorization: Bearer <token>`)",
        )
        .into(),
    );
    if operation.request_body.is_some() {
        responses.insert(
            "413".to_owned(),
            Response::new("The body is larger than the server's --max-message-bytes").into(),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3 document")))]
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
