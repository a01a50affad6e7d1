//! The dashboard page: plain HTML, CSS and JavaScript compiled into the binary (no build step,
//! no CDN, works offline), served under a strict Content-Security-Policy.

use crate::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const TIMELINE_JS: &str = include_str!("../assets/timeline.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const FAVICON: &str = include_str!("../assets/favicon.svg");

/// Scripts and styles only from this server, no inline script or style, no frames, no form
/// posts: an id or payload that slipped through escaping still could not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        // The page routes itself on these paths; each serves the same document.
        .route("/", get(index))
        .route("/instances/{id}", get(index))
        .route("/entities", get(index))
        .route("/entities/{id}", get(index))
        .route("/assets/app.js", get(|| asset("text/javascript", APP_JS)))
        .route(
            "/assets/timeline.js",
            get(|| asset("text/javascript", TIMELINE_JS)),
        )
        .route("/assets/app.css", get(|| asset("text/css", APP_CSS)))
        .route(
            "/assets/favicon.svg",
            get(|| asset("image/svg+xml", FAVICON)),
        )
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX).await
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Security headers on every answer.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
