//! The one place errors become HTTP answers: store errors by kind (400 bad request, 404 unknown
//! id, 409 wrong state or taken id), bodies that are not JSON (415, 400), always with a JSON
//! body `{"error": {"code", "message"}}`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use dt_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The body of every error answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// A stable name for the kind of error: `BAD_REQUEST`, `NOT_FOUND`, `CONFLICT`,
    /// `UNSUPPORTED_MEDIA_TYPE`, `PAYLOAD_TOO_LARGE`, `UNAUTHENTICATED`, `READ_ONLY`,
    /// `FORBIDDEN_HOST`, `NOT_IMPLEMENTED`.
    code: String,
    /// What a person can do about it.
    message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub(crate) fn read_only() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "READ_ONLY",
            "the server runs with --read-only: state-changing calls are refused",
        )
    }

    pub(crate) fn forbidden_host(host: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN_HOST",
            format!(
                "this server answers only requests addressed to it by its own name, not '{}'",
                dt_store::clip(host)
            ),
        )
    }

    /// A request without an accepted bearer token; the message never repeats what was sent.
    pub(crate) fn unauthenticated(refusal: dt_security::Unauthenticated) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            refusal.to_string(),
        )
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(m) => Self::not_found(m),
            StoreError::AlreadyExists(m) | StoreError::FailedPrecondition(m) => Self::conflict(m),
            StoreError::InvalidArgument(m) => Self::bad_request(m),
            StoreError::Unsupported(m) => {
                Self::new(StatusCode::NOT_IMPLEMENTED, "NOT_IMPLEMENTED", m)
            }
            StoreError::Internal(m) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", m),
            StoreError::Unavailable(m) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", m)
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            // A form post from another site cannot send this content type without CORS
            // preflight, which this server never grants.
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send a JSON body with `content-type: application/json`",
            ),
            // Over the body limit (the server's --max-message-bytes).
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the request body is larger than the server accepts (--max-message-bytes)",
            ),
            other => Self::bad_request(other.body_text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// A JSON request body whose rejections are [`ApiError`]s.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters, with repeated keys for lists (`status=A&status=B`); a bad query is a 400
/// [`ApiError`].
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        serde_html_form::from_str(parts.uri.query().unwrap_or(""))
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("bad query: {e}")))
    }
}

/// Result alias for handlers.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_store_error_has_its_status() {
        let rows = [
            (StoreError::NotFound("x".into()), StatusCode::NOT_FOUND),
            (StoreError::AlreadyExists("x".into()), StatusCode::CONFLICT),
            (
                StoreError::FailedPrecondition("x".into()),
                StatusCode::CONFLICT,
            ),
            (
                StoreError::InvalidArgument("x".into()),
                StatusCode::BAD_REQUEST,
            ),
            (
                StoreError::Unsupported("x".into()),
                StatusCode::NOT_IMPLEMENTED,
            ),
        ];
        for (err, status) in rows {
            let answer = ApiError::from(err.clone());
            assert_eq!(answer.status, status, "{err:?}");
            assert_eq!(answer.message, "x");
        }
    }
}
