//! The bearer-token check in front of the API (the live feed included) and `/metrics`: with
//! tokens configured, a request without one of them gets 401 and `WWW-Authenticate: Bearer`.
//! `/healthz` and the page's static assets stay open: they hold no data, probes need no
//! token, and the page must load to ask for one.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dt_security::Unauthenticated;

/// Lets the request through if it carries a token of the set (or no token is configured).
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // Constant time, in dt-security, over every configured token.
    match state
        .options
        .security
        .tokens
        .check_headers(request.headers())
    {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            // Never log what the caller sent: only the kind of refusal.
            tracing::debug!(path = request.uri().path(), %refusal, "HTTP request refused");
            let mut response = ApiError::unauthenticated(refusal).into_response();
            // RFC 6750: name the scheme; say why when a token was sent but is not accepted.
            let challenge = match refusal {
                Unauthenticated::Missing => "Bearer",
                Unauthenticated::Malformed => "Bearer error=\"invalid_request\"",
                Unauthenticated::Invalid => "Bearer error=\"invalid_token\"",
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            response
        }
    }
}
