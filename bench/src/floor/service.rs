//! The floor's service: a canned reply to each RPC of a hello orchestration and nothing else.
//! StartInstance queues the first turn, a completed turn queues the activities it scheduled, a
//! completed activity queues the second turn; the worker streams hand the queue out. No
//! instance, history or lease is kept: the queue of items not yet handed out is all there is.
//! Every other RPC is UNIMPLEMENTED.

use crate::items;
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::task_hub_sidecar_service_server::TaskHubSidecarService;
use dt_proto::*;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Items buffered per worker stream before its pump waits for the worker to read.
const STREAM_BUFFER: usize = 64;

pub(crate) struct Floor {
    queue: mpsc::UnboundedSender<WorkItem>,
    /// The worker streams take turns at the queue.
    pending: Arc<Mutex<mpsc::UnboundedReceiver<WorkItem>>>,
    /// Self-test fault: queue every instance's first turn twice.
    duplicate_first_turn: bool,
}

impl Floor {
    pub(crate) fn new(duplicate_first_turn: bool) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        Self {
            queue,
            pending: Arc::new(Mutex::new(pending)),
            duplicate_first_turn,
        }
    }

    fn push(&self, item: WorkItem) -> Result<(), Status> {
        self.queue
            .send(item)
            .map_err(|_| Status::unavailable("the floor is shutting down"))
    }
}

/// Moves items from the shared queue to one worker stream until the worker goes; the item in
/// hand when it goes is put back for the other streams.
async fn pump(
    pending: Arc<Mutex<mpsc::UnboundedReceiver<WorkItem>>>,
    requeue: mpsc::UnboundedSender<WorkItem>,
    out: mpsc::Sender<Result<WorkItem, Status>>,
) {
    loop {
        let item = {
            let mut pending = pending.lock().await;
            tokio::select! {
                item = pending.recv() => item,
                () = out.closed() => return,
            }
        };
        let Some(item) = item else { return };
        if let Err(mpsc::error::SendError(Ok(item))) = out.send(Ok(item)).await {
            let _ = requeue.send(item);
            return;
        }
    }
}

/// Implements the trait with the given items; every RPC listed after them answers
/// UNIMPLEMENTED.
macro_rules! sidecar_service {
    ({ $($implemented:tt)* } $($name:ident($request:ty) -> $response:ty;)*) => {
        #[tonic::async_trait]
        impl TaskHubSidecarService for Floor {
            $($implemented)*
            $(
                async fn $name(&self, _: Request<$request>) -> Result<Response<$response>, Status> {
                    Err(Status::unimplemented(concat!(
                        "the RPC floor answers the hello orchestration's calls only, not ",
                        stringify!($name)
                    )))
                }
            )*
        }
    };
}

sidecar_service! {
    {
        type GetWorkItemsStream = ReceiverStream<Result<WorkItem, Status>>;
        type StreamInstanceHistoryStream = ReceiverStream<Result<HistoryChunk, Status>>;

        async fn hello(&self, _: Request<()>) -> Result<Response<()>, Status> {
            Ok(Response::new(()))
        }

        async fn start_instance(
            &self,
            request: Request<CreateInstanceRequest>,
        ) -> Result<Response<CreateInstanceResponse>, Status> {
            let start = request.into_inner();
            let turn = items::first_turn(&start);
            if self.duplicate_first_turn {
                self.push(turn.clone())?;
            }
            self.push(turn)?;
            Ok(Response::new(CreateInstanceResponse {
                instance_id: start.instance_id,
            }))
        }

        async fn get_work_items(
            &self,
            _: Request<GetWorkItemsRequest>,
        ) -> Result<Response<Self::GetWorkItemsStream>, Status> {
            let (out, stream) = mpsc::channel(STREAM_BUFFER);
            tokio::spawn(pump(Arc::clone(&self.pending), self.queue.clone(), out));
            Ok(Response::new(ReceiverStream::new(stream)))
        }

        async fn complete_orchestrator_task(
            &self,
            request: Request<OrchestratorResponse>,
        ) -> Result<Response<CompleteTaskResponse>, Status> {
            let turn = request.into_inner();
            for action in &turn.actions {
                if let Some(OrchestratorActionType::ScheduleTask(task)) =
                    &action.orchestrator_action_type
                {
                    self.push(items::activity(&turn.instance_id, action.id, task))?;
                }
            }
            Ok(Response::new(CompleteTaskResponse::default()))
        }

        async fn complete_activity_task(
            &self,
            request: Request<ActivityResponse>,
        ) -> Result<Response<CompleteTaskResponse>, Status> {
            self.push(items::second_turn(&request.into_inner()))?;
            Ok(Response::new(CompleteTaskResponse::default()))
        }
    }
    get_instance(GetInstanceRequest) -> GetInstanceResponse;
    rewind_instance(RewindInstanceRequest) -> RewindInstanceResponse;
    restart_instance(RestartInstanceRequest) -> RestartInstanceResponse;
    wait_for_instance_start(GetInstanceRequest) -> GetInstanceResponse;
    wait_for_instance_completion(GetInstanceRequest) -> GetInstanceResponse;
    raise_event(RaiseEventRequest) -> RaiseEventResponse;
    terminate_instance(TerminateRequest) -> TerminateResponse;
    suspend_instance(SuspendRequest) -> SuspendResponse;
    resume_instance(ResumeRequest) -> ResumeResponse;
    query_instances(QueryInstancesRequest) -> QueryInstancesResponse;
    list_instance_ids(ListInstanceIdsRequest) -> ListInstanceIdsResponse;
    purge_instances(PurgeInstancesRequest) -> PurgeInstancesResponse;
    complete_entity_task(EntityBatchResult) -> CompleteTaskResponse;
    stream_instance_history(StreamInstanceHistoryRequest) -> Self::StreamInstanceHistoryStream;
    create_task_hub(CreateTaskHubRequest) -> CreateTaskHubResponse;
    delete_task_hub(DeleteTaskHubRequest) -> DeleteTaskHubResponse;
    signal_entity(SignalEntityRequest) -> SignalEntityResponse;
    get_entity(GetEntityRequest) -> GetEntityResponse;
    query_entities(QueryEntitiesRequest) -> QueryEntitiesResponse;
    clean_entity_storage(CleanEntityStorageRequest) -> CleanEntityStorageResponse;
    abandon_task_activity_work_item(AbandonActivityTaskRequest) -> AbandonActivityTaskResponse;
    abandon_task_orchestrator_work_item(AbandonOrchestrationTaskRequest)
        -> AbandonOrchestrationTaskResponse;
    abandon_task_entity_work_item(AbandonEntityTaskRequest) -> AbandonEntityTaskResponse;
    skip_graceful_orchestration_terminations(SkipGracefulOrchestrationTerminationsRequest)
        -> SkipGracefulOrchestrationTerminationsResponse;
}
