//! Timing every RPC for metrics: a tower layer around the gRPC router that tells an
//! [`RpcObserver`] each call's method, status code and time to the response head.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::Code;

/// Called once per RPC with the method name (`StartInstance`), the status code's name
/// (`OK`, `NOT_FOUND`), and the time from the request to the response head. For a unary call
/// that is the whole call; for a server stream (`GetWorkItems`, `StreamInstanceHistory`) it is
/// the time to open the stream.
#[derive(Clone)]
pub struct RpcObserver(Arc<ObserveFn>);

type ObserveFn = dyn Fn(&str, &'static str, Duration) + Send + Sync;

impl RpcObserver {
    /// An observer calling `f`.
    pub fn new(f: impl Fn(&str, &'static str, Duration) + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

/// The canonical name of a gRPC status code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl fmt::Debug for RpcObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RpcObserver")
    }
}

/// The layer; without an observer it only forwards.
#[derive(Clone, Debug)]
pub(crate) struct ObserveLayer(pub(crate) Option<RpcObserver>);

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            observer: self.0.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Observe<S> {
    inner: S,
    observer: Option<RpcObserver>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower::Service<http::Request<B>> for Observe<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(observer) = self.observer.clone() else {
            return Box::pin(self.inner.call(request));
        };
        // `/TaskHubSidecarService/StartInstance` → `StartInstance`.
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_owned();
        let start = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            if let Ok(response) = &response {
                // A failed call answers trailers-only, with grpc-status in the head; a
                // successful one sends its status in the trailers, after the message.
                let code = response
                    .headers()
                    .get("grpc-status")
                    .map_or(Code::Ok, |v| Code::from_bytes(v.as_bytes()));
                // Every method we serve is implemented: an unknown path gets UNIMPLEMENTED, and
                // is counted under one name so clients cannot grow the metrics without bound.
                let method = if code == Code::Unimplemented {
                    "unknown"
                } else {
                    &method
                };
                (observer.0)(method, code_name(code), start.elapsed());
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tower::Layer;
    use tower::Service;

    /// Answers every request with the given grpc-status in the head (none: success).
    #[derive(Clone)]
    struct Answer(Option<&'static str>);

    impl Service<http::Request<()>> for Answer {
        type Response = http::Response<()>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            let mut response = http::Response::new(());
            if let Some(code) = self.0 {
                response
                    .headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static(code));
            }
            std::future::ready(Ok(response))
        }
    }

    #[tokio::test]
    async fn each_call_is_told_with_a_bounded_method_name() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let observer = RpcObserver::new(move |method, code, _| {
            if let Ok(mut seen) = record.lock() {
                seen.push((method.to_owned(), code));
            }
        });
        let rows = [
            (
                "/TaskHubSidecarService/StartInstance",
                None,
                "StartInstance",
                "OK",
            ),
            (
                "/TaskHubSidecarService/GetInstance",
                Some("5"),
                "GetInstance",
                "NOT_FOUND",
            ),
            ("/Made/Up", Some("12"), "unknown", "UNIMPLEMENTED"),
        ];
        for (path, status, _, _) in rows {
            let mut service = ObserveLayer(Some(observer.clone())).layer(Answer(status));
            let request = http::Request::builder().uri(path).body(());
            let Ok(request) = request else {
                panic!("bad request {path}");
            };
            let _ = service.call(request).await;
        }
        let expected: Vec<(String, &str)> = rows
            .iter()
            .map(|(_, _, method, code)| ((*method).to_owned(), *code))
            .collect();
        assert_eq!(*seen.lock().unwrap_or_else(|p| p.into_inner()), expected);
    }
}
