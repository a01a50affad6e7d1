//! The bearer-token check in front of every gRPC call: a call without a token from the set
//! ends with UNAUTHENTICATED before its message is read. The health service stays open, so
//! load balancers and orchestrators can probe without a token.

use super::conn::GrpcConnInfo;
use dt_security::TokenSet;
use futures_util::future::{Either, Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::Status;
use tower::{Layer, Service};

/// Calls under this path need no token.
const OPEN_PREFIX: &str = "/grpc.health.v1.Health/";

/// Wraps a service in the token check.
#[derive(Clone)]
pub(crate) struct AuthLayer {
    tokens: Arc<TokenSet>,
}

impl AuthLayer {
    pub(crate) fn new(tokens: Arc<TokenSet>) -> Self {
        Self { tokens }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            tokens: self.tokens.clone(),
        }
    }
}

/// The token check around `S`.
#[derive(Clone)]
pub(crate) struct Auth<S> {
    inner: S,
    tokens: Arc<TokenSet>,
}

impl<S, B, RB> Service<http::Request<B>> for Auth<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
    RB: Default,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<http::Response<RB>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path().starts_with(OPEN_PREFIX) {
            return Either::Left(self.inner.call(request));
        }
        match self.tokens.check_headers(request.headers()) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(refusal) => {
                // Never log what the caller sent: only the kind of refusal.
                let remote = request.extensions().get::<GrpcConnInfo>().map(|c| c.remote);
                tracing::debug!(?remote, path = request.uri().path(), %refusal, "call refused");
                Either::Right(ready(Ok(
                    Status::unauthenticated(refusal.to_string()).into_http()
                )))
            }
        }
    }
}
