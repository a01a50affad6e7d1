//! `GetWorkItems` routed past the generated server, so that work items go out in the store's
//! own encoding (`WireWorkItem`: an orchestration's past events written from its history's
//! cached bytes) instead of being cloned into a `WorkItem` and encoded again every turn.
//!
//! The generated server fixes the response type of the method to `WorkItem`; everything else
//! about the call is the same as its: same codec (prost's, over a message that encodes to the
//! same bytes), same size limits, no compression, and the same layers around it, which wrap
//! the whole router. Every other path goes to the generated server.

use crate::service::{ServerStream, SidecarService};
use dt_proto::GetWorkItemsRequest;
use dt_proto::task_hub_sidecar_service_server::{
    TaskHubSidecarService, TaskHubSidecarServiceServer,
};
use dt_store::WireWorkItem;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tonic::server::NamedService;
use tonic::{Request, Response, Status};

/// GetWorkItems' path: the proto has no package.
const GET_WORK_ITEMS: &str = "/TaskHubSidecarService/GetWorkItems";

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// The sidecar service's routes: GetWorkItems from `work_items` when given, the rest (and
/// GetWorkItems otherwise) from the generated server.
pub(crate) struct SidecarRoutes<S> {
    generated: TaskHubSidecarServiceServer<S>,
    work_items: Option<SidecarService>,
    max_message_bytes: usize,
}

impl<S> SidecarRoutes<S> {
    pub(crate) fn new(
        service: S,
        work_items: Option<SidecarService>,
        max_message_bytes: usize,
    ) -> Self {
        Self {
            generated: TaskHubSidecarServiceServer::new(service)
                .max_decoding_message_size(max_message_bytes)
                .max_encoding_message_size(max_message_bytes),
            work_items,
            max_message_bytes,
        }
    }
}

impl<S> Clone for SidecarRoutes<S> {
    fn clone(&self) -> Self {
        Self {
            generated: self.generated.clone(),
            work_items: self.work_items.clone(),
            max_message_bytes: self.max_message_bytes,
        }
    }
}

impl<S> NamedService for SidecarRoutes<S> {
    const NAME: &'static str = <TaskHubSidecarServiceServer<S> as NamedService>::NAME;
}

impl<S, B> tower::Service<http::Request<B>> for SidecarRoutes<S>
where
    S: TaskHubSidecarService,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        match &self.work_items {
            Some(service) if req.uri().path() == GET_WORK_ITEMS => {
                let method = GetWorkItems(service.clone());
                let max = self.max_message_bytes;
                Box::pin(async move {
                    let codec =
                        tonic_prost::ProstCodec::<WireWorkItem, GetWorkItemsRequest>::default();
                    let mut grpc = tonic::server::Grpc::new(codec)
                        .apply_max_message_size_config(Some(max), Some(max));
                    Ok(grpc.server_streaming(method, req).await)
                })
            }
            _ => self.generated.call(req),
        }
    }
}

/// The method, over the service's stream of the store's work items.
struct GetWorkItems(SidecarService);

impl tonic::server::ServerStreamingService<GetWorkItemsRequest> for GetWorkItems {
    type Response = WireWorkItem;
    type ResponseStream = ServerStream<WireWorkItem>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<GetWorkItemsRequest>) -> Self::Future {
        let service = self.0.clone();
        Box::pin(async move { service.wire_work_items(request.into_inner()).await })
    }
}

#[cfg(test)]
mod tests {
    use super::GET_WORK_ITEMS;
    use dt_proto::GetWorkItemsRequest;
    use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    /// A channel that records the path of the call it is given and fails it.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl tower::Service<http::Request<tonic::body::Body>> for Recorder {
        type Response = http::Response<tonic::body::Body>;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
            if let Ok(mut paths) = self.0.lock() {
                paths.push(req.uri().path().to_owned());
            }
            std::future::ready(Err(std::io::Error::other("recorded")))
        }
    }

    /// The route catches the very path the SDKs' generated clients dial; a wrong constant
    /// would quietly send every work item the slow way.
    #[tokio::test]
    async fn the_route_is_the_path_clients_dial() {
        let recorder = Recorder::default();
        let mut client = TaskHubSidecarServiceClient::new(recorder.clone());
        let answer = client.get_work_items(GetWorkItemsRequest::default()).await;
        assert!(answer.is_err(), "the recorder fails every call");
        let paths = recorder.0.lock().map(|p| p.clone()).unwrap_or_default();
        assert_eq!(paths, [GET_WORK_ITEMS]);
    }
}
