//! The `TaskHubSidecarService` implementation: each method decodes, calls the store, encodes.

mod instances;
mod work;

use crate::convert;
use crate::status::to_status;
use dt_proto::task_hub_sidecar_service_server::TaskHubSidecarService;
use dt_proto::*;
use dt_store::{Store, WireWorkItem};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

/// The service over a store.
#[derive(Clone)]
pub struct SidecarService {
    store: Arc<dyn Store>,
    ping_interval: Duration,
    /// Longest a wait for an instance stays open, whatever the caller's deadline.
    max_wait: Duration,
    /// Flips to `true` when the server shuts down, ending streams and long waits.
    shutdown: watch::Receiver<bool>,
    /// Waits for an instance are its demand; `None` when the service runs without.
    time: Option<Arc<crate::skipping::TimeSkipping>>,
}

impl SidecarService {
    /// A service over `store` that pings idle workers every `ping_interval`.
    pub fn new(
        store: Arc<dyn Store>,
        ping_interval: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store,
            ping_interval,
            max_wait: dt_security::DEFAULT_MAX_WAIT,
            shutdown,
            time: None,
        }
    }

    /// Counts waits for an instance as demand for time skipping, and fails them when its
    /// budget runs out.
    pub fn with_time_skipping(mut self, time: Arc<crate::skipping::TimeSkipping>) -> Self {
        self.time = Some(time);
        self
    }

    /// GetWorkItems with the store's work items as they are, for the transport to write.
    pub(crate) async fn wire_work_items(
        &self,
        request: GetWorkItemsRequest,
    ) -> Result<Response<ServerStream<WireWorkItem>>, Status> {
        work::stream_work_items(self, request).await
    }

    /// Ends waits for an instance after `max_wait` with DEADLINE_EXCEEDED.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }
}

pub(crate) type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl TaskHubSidecarService for SidecarService {
    async fn hello(&self, _: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    async fn start_instance(
        &self,
        request: Request<CreateInstanceRequest>,
    ) -> Result<Response<CreateInstanceResponse>, Status> {
        instances::start(&*self.store, request.into_inner()).await
    }

    async fn get_instance(
        &self,
        request: Request<GetInstanceRequest>,
    ) -> Result<Response<GetInstanceResponse>, Status> {
        let request = request.into_inner();
        let state = self
            .store
            .get_instance(&request.instance_id, request.get_inputs_and_outputs)
            .await
            .map_err(to_status)?;
        Ok(Response::new(instances::instance_response(state)))
    }

    async fn rewind_instance(
        &self,
        request: Request<RewindInstanceRequest>,
    ) -> Result<Response<RewindInstanceResponse>, Status> {
        let r = request.into_inner();
        self.store
            .rewind_instance(&r.instance_id, r.reason)
            .await
            .map_err(to_status)?;
        Ok(Response::new(RewindInstanceResponse {}))
    }

    async fn restart_instance(
        &self,
        request: Request<RestartInstanceRequest>,
    ) -> Result<Response<RestartInstanceResponse>, Status> {
        let request = request.into_inner();
        let instance_id = self
            .store
            .restart_instance(&request.instance_id, request.restart_with_new_instance_id)
            .await
            .map_err(to_status)?;
        Ok(Response::new(RestartInstanceResponse { instance_id }))
    }

    async fn wait_for_instance_start(
        &self,
        request: Request<GetInstanceRequest>,
    ) -> Result<Response<GetInstanceResponse>, Status> {
        instances::wait(self, request, dt_store::WaitCondition::Started).await
    }

    async fn wait_for_instance_completion(
        &self,
        request: Request<GetInstanceRequest>,
    ) -> Result<Response<GetInstanceResponse>, Status> {
        instances::wait(self, request, dt_store::WaitCondition::Completed).await
    }

    async fn raise_event(
        &self,
        request: Request<RaiseEventRequest>,
    ) -> Result<Response<RaiseEventResponse>, Status> {
        let r = request.into_inner();
        self.store
            .raise_event(&r.instance_id, r.name, r.input)
            .await
            .map_err(to_status)?;
        Ok(Response::new(RaiseEventResponse {}))
    }

    async fn terminate_instance(
        &self,
        request: Request<TerminateRequest>,
    ) -> Result<Response<TerminateResponse>, Status> {
        let r = request.into_inner();
        self.store
            .terminate_instance(&r.instance_id, r.output, r.recursive)
            .await
            .map_err(to_status)?;
        Ok(Response::new(TerminateResponse {}))
    }

    async fn suspend_instance(
        &self,
        request: Request<SuspendRequest>,
    ) -> Result<Response<SuspendResponse>, Status> {
        let r = request.into_inner();
        self.store
            .suspend_instance(&r.instance_id, r.reason)
            .await
            .map_err(to_status)?;
        Ok(Response::new(SuspendResponse {}))
    }

    async fn resume_instance(
        &self,
        request: Request<ResumeRequest>,
    ) -> Result<Response<ResumeResponse>, Status> {
        let r = request.into_inner();
        self.store
            .resume_instance(&r.instance_id, r.reason)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ResumeResponse {}))
    }

    async fn query_instances(
        &self,
        request: Request<QueryInstancesRequest>,
    ) -> Result<Response<QueryInstancesResponse>, Status> {
        let query = convert::instance_query(request.into_inner().query.unwrap_or_default())?;
        let page = self.store.query_instances(query).await.map_err(to_status)?;
        Ok(Response::new(QueryInstancesResponse {
            orchestration_state: page.items,
            continuation_token: page.continuation_token,
        }))
    }

    async fn list_instance_ids(
        &self,
        request: Request<ListInstanceIdsRequest>,
    ) -> Result<Response<ListInstanceIdsResponse>, Status> {
        let page = self
            .store
            .list_instance_ids(convert::list_request(request.into_inner())?)
            .await
            .map_err(to_status)?;
        Ok(Response::new(ListInstanceIdsResponse {
            instance_ids: page.items,
            last_instance_key: page.continuation_token,
        }))
    }

    async fn purge_instances(
        &self,
        request: Request<PurgeInstancesRequest>,
    ) -> Result<Response<PurgeInstancesResponse>, Status> {
        instances::purge(&*self.store, request.into_inner()).await
    }

    type GetWorkItemsStream = ServerStream<WorkItem>;

    async fn get_work_items(
        &self,
        request: Request<GetWorkItemsRequest>,
    ) -> Result<Response<Self::GetWorkItemsStream>, Status> {
        // Served this way only when called directly: the transport routes GetWorkItems to
        // `wire_work_items`, whose items it writes without decoding their past events.
        let stream = work::stream_work_items(self, request.into_inner()).await?;
        Ok(stream.map(|items| -> Self::GetWorkItemsStream {
            Box::pin(items.map(|item| item.map(WireWorkItem::into_proto)))
        }))
    }

    async fn complete_activity_task(
        &self,
        request: Request<ActivityResponse>,
    ) -> Result<Response<CompleteTaskResponse>, Status> {
        self.store
            .complete_activity(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(CompleteTaskResponse {}))
    }

    async fn complete_orchestrator_task(
        &self,
        request: Request<OrchestratorResponse>,
    ) -> Result<Response<CompleteTaskResponse>, Status> {
        self.store
            .complete_orchestration(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(CompleteTaskResponse {}))
    }

    async fn complete_entity_task(
        &self,
        request: Request<EntityBatchResult>,
    ) -> Result<Response<CompleteTaskResponse>, Status> {
        self.store
            .complete_entity(request.into_inner())
            .await
            .map_err(to_status)?;
        Ok(Response::new(CompleteTaskResponse {}))
    }

    type StreamInstanceHistoryStream = ServerStream<HistoryChunk>;

    async fn stream_instance_history(
        &self,
        request: Request<StreamInstanceHistoryRequest>,
    ) -> Result<Response<Self::StreamInstanceHistoryStream>, Status> {
        instances::stream_history(&*self.store, request.into_inner()).await
    }

    /// There is one task hub per server; `recreateIfExists` empties it.
    async fn create_task_hub(
        &self,
        request: Request<CreateTaskHubRequest>,
    ) -> Result<Response<CreateTaskHubResponse>, Status> {
        if request.into_inner().recreate_if_exists {
            self.store.reset().await.map_err(to_status)?;
        }
        Ok(Response::new(CreateTaskHubResponse {}))
    }

    /// Deleting the (only) task hub deletes everything in it.
    async fn delete_task_hub(
        &self,
        _: Request<DeleteTaskHubRequest>,
    ) -> Result<Response<DeleteTaskHubResponse>, Status> {
        self.store.reset().await.map_err(to_status)?;
        Ok(Response::new(DeleteTaskHubResponse {}))
    }

    async fn signal_entity(
        &self,
        request: Request<SignalEntityRequest>,
    ) -> Result<Response<SignalEntityResponse>, Status> {
        self.store
            .signal_entity(convert::signal(request.into_inner())?)
            .await
            .map_err(to_status)?;
        Ok(Response::new(SignalEntityResponse {}))
    }

    async fn get_entity(
        &self,
        request: Request<GetEntityRequest>,
    ) -> Result<Response<GetEntityResponse>, Status> {
        let r = request.into_inner();
        let entity = self
            .store
            .get_entity(&r.instance_id, r.include_state)
            .await
            .map_err(to_status)?;
        Ok(Response::new(GetEntityResponse {
            exists: entity.is_some(),
            entity,
        }))
    }

    async fn query_entities(
        &self,
        request: Request<QueryEntitiesRequest>,
    ) -> Result<Response<QueryEntitiesResponse>, Status> {
        let query = convert::entity_query(request.into_inner().query.unwrap_or_default())?;
        let page = self.store.query_entities(query).await.map_err(to_status)?;
        Ok(Response::new(QueryEntitiesResponse {
            entities: page.items,
            continuation_token: page.continuation_token,
        }))
    }

    async fn clean_entity_storage(
        &self,
        request: Request<CleanEntityStorageRequest>,
    ) -> Result<Response<CleanEntityStorageResponse>, Status> {
        let r = request.into_inner();
        let (removed, released) = self
            .store
            .clean_entity_storage(r.remove_empty_entities, r.release_orphaned_locks)
            .await
            .map_err(to_status)?;
        Ok(Response::new(CleanEntityStorageResponse {
            continuation_token: None,
            empty_entities_removed: i32::try_from(removed).unwrap_or(i32::MAX),
            orphaned_locks_released: i32::try_from(released).unwrap_or(i32::MAX),
        }))
    }

    async fn abandon_task_activity_work_item(
        &self,
        request: Request<AbandonActivityTaskRequest>,
    ) -> Result<Response<AbandonActivityTaskResponse>, Status> {
        self.store
            .abandon_activity(&request.into_inner().completion_token)
            .await
            .map_err(to_status)?;
        Ok(Response::new(AbandonActivityTaskResponse {}))
    }

    async fn abandon_task_orchestrator_work_item(
        &self,
        request: Request<AbandonOrchestrationTaskRequest>,
    ) -> Result<Response<AbandonOrchestrationTaskResponse>, Status> {
        self.store
            .abandon_orchestration(&request.into_inner().completion_token)
            .await
            .map_err(to_status)?;
        Ok(Response::new(AbandonOrchestrationTaskResponse {}))
    }

    async fn abandon_task_entity_work_item(
        &self,
        request: Request<AbandonEntityTaskRequest>,
    ) -> Result<Response<AbandonEntityTaskResponse>, Status> {
        self.store
            .abandon_entity(&request.into_inner().completion_token)
            .await
            .map_err(to_status)?;
        Ok(Response::new(AbandonEntityTaskResponse {}))
    }

    async fn skip_graceful_orchestration_terminations(
        &self,
        request: Request<SkipGracefulOrchestrationTerminationsRequest>,
    ) -> Result<Response<SkipGracefulOrchestrationTerminationsResponse>, Status> {
        let r = request.into_inner();
        let ids = r.instance_batch.map(|b| b.instance_ids).unwrap_or_default();
        if ids.len() > 500 {
            return Err(Status::invalid_argument(format!(
                "an instance batch holds at most 500 ids, got {}",
                ids.len()
            )));
        }
        let unterminated_instance_ids = self
            .store
            .terminate_now(ids, r.reason)
            .await
            .map_err(to_status)?;
        Ok(Response::new(
            SkipGracefulOrchestrationTerminationsResponse {
                unterminated_instance_ids,
            },
        ))
    }
}
