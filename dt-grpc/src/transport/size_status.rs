//! RESOURCE_EXHAUSTED for a message over the size limit, as gRPC specifies and other gRPC
//! servers answer: tonic's codec reports it as OUT_OF_RANGE, a code the service itself never
//! uses, so that code (with the codec's message) is rewritten in the response headers
//! (a refused request) and trailers (a response too large to send).

use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tonic::Code;
use tower::{Layer, Service};

const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";
/// What tonic's codec says about a message over the limit, in both directions, as it
/// travels (`grpc-message` is percent-encoded, spaces included).
const CODEC_TOO_LARGE: &str = "message%20length%20too%20large";

/// Rewrites a codec size refusal in `headers` to RESOURCE_EXHAUSTED.
fn rewrite(headers: &mut HeaderMap) {
    let out_of_range = headers
        .get(GRPC_STATUS)
        .is_some_and(|v| v.as_bytes() == (Code::OutOfRange as i32).to_string().as_bytes());
    let from_codec = headers
        .get(GRPC_MESSAGE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.contains(CODEC_TOO_LARGE));
    if out_of_range && from_codec {
        headers.insert(
            GRPC_STATUS,
            http::HeaderValue::from(Code::ResourceExhausted as i32),
        );
    }
}

/// Wraps a service in the rewrite.
#[derive(Clone, Copy, Default)]
pub(crate) struct SizeStatusLayer;

impl<S> Layer<S> for SizeStatusLayer {
    type Service = SizeStatus<S>;

    fn layer(&self, inner: S) -> SizeStatus<S> {
        SizeStatus { inner }
    }
}

/// The rewrite around `S`.
#[derive(Clone)]
pub(crate) struct SizeStatus<S> {
    inner: S,
}

impl<S, B, RB> Service<http::Request<B>> for SizeStatus<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<SizeStatusBody<RB>>;
    type Error = S::Error;
    type Future = SizeStatusFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        SizeStatusFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future with the rewrite of a trailers-only response.
    pub(crate) struct SizeStatusFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, RB, E> Future for SizeStatusFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<SizeStatusBody<RB>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = ready!(self.project().inner.poll(cx))?;
        rewrite(response.headers_mut());
        Poll::Ready(Ok(response.map(|inner| SizeStatusBody { inner })))
    }
}

pin_project_lite::pin_project! {
    /// A response body with the rewrite of its trailers.
    pub(crate) struct SizeStatusBody<B> {
        #[pin]
        inner: B,
    }
}

impl<B: Default> Default for SizeStatusBody<B> {
    fn default() -> Self {
        Self {
            inner: B::default(),
        }
    }
}

impl<B: Body> Body for SizeStatusBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let frame = ready!(self.project().inner.poll_frame(cx));
        Poll::Ready(frame.map(|f| {
            f.map(|frame| match frame.into_trailers() {
                Ok(mut trailers) => {
                    rewrite(&mut trailers);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            })
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(status: Code, message: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(GRPC_STATUS, http::HeaderValue::from(status as i32));
        if let Ok(v) = http::HeaderValue::from_str(message) {
            h.insert(GRPC_MESSAGE, v);
        }
        h
    }

    fn code(h: &HeaderMap) -> Option<&[u8]> {
        h.get(GRPC_STATUS).map(|v| v.as_bytes())
    }

    #[test]
    fn only_the_codec_size_refusal_is_rewritten() {
        let mut codec = headers(
            Code::OutOfRange,
            "Error,%20decoded%20message%20length%20too%20large:%20found%209%20bytes",
        );
        rewrite(&mut codec);
        assert_eq!(code(&codec), Some(&b"8"[..]));

        let mut other = headers(Code::OutOfRange, "something else");
        rewrite(&mut other);
        assert_eq!(code(&other), Some(&b"11"[..]));

        let mut not_found = headers(Code::NotFound, "message%20length%20too%20large");
        rewrite(&mut not_found);
        assert_eq!(code(&not_found), Some(&b"5"[..]));
    }
}
