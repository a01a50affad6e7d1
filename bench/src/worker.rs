//! The thin workers: each opens one `GetWorkItems` stream on its own connection and answers
//! each work item as it arrives, in a task of its own: orchestrator requests with the turn the
//! workload computes from the history, activity requests with the activity's result. Like the
//! SDK's workers, each has at most 100 answers in flight (a burst of thousands of unary calls
//! on one HTTP/2 connection trips h2's flood protection on the server). A worker marks an
//! instance finished when the server accepts its last turn. Every work item is entered in the
//! run's ledger as it arrives, so a second dispatch of a turn or activity is caught.

use crate::conn::Client;
use crate::ledger::Dispatch;
use crate::run::Run;
use crate::workload;
use dt_proto::work_item::Request;
use dt_proto::{
    ActivityRequest, ActivityResponse, GetWorkItemsRequest, OrchestratorRequest,
    OrchestratorResponse,
};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

/// Answers in flight per worker stream (the SDK's default is 100 per CPU and kind).
const IN_FLIGHT: usize = 100;

/// Starts one worker task per client; abort the handles to disconnect them.
pub(crate) fn spawn_all(clients: Vec<Client>, run: &Arc<Run>) -> Vec<JoinHandle<()>> {
    clients
        .into_iter()
        .map(|client| tokio::spawn(work(client, Arc::clone(run))))
        .collect()
}

/// Reads one stream until it ends (which, before the run is aborted, is an error).
async fn work(mut client: Client, run: Arc<Run>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    // Not awaited before the client starts instances: a server may send the stream's headers
    // only with its first item.
    let mut stream = match client.get_work_items(GetWorkItemsRequest::default()).await {
        Ok(response) => response.into_inner(),
        Err(status) => return run.error(format!("GetWorkItems failed: {status}")),
    };
    while let Some(item) = stream.next().await {
        let item = match item {
            Ok(item) => item,
            Err(status) => return run.error(format!("the work-item stream failed: {status}")),
        };
        let token = item.completion_token;
        match item.request {
            Some(Request::OrchestratorRequest(request)) => {
                if let Some(i) = run.index(&request.instance_id) {
                    let history = request.past_events.len();
                    run.dispatched(i, Dispatch::Turn { history });
                }
                let (client, run, slots) = (client.clone(), Arc::clone(&run), Arc::clone(&slots));
                tokio::spawn(async move {
                    let _slot = slots.acquire().await;
                    orchestrate(client, run, request, token).await;
                });
            }
            Some(Request::ActivityRequest(request)) => {
                let instance = request.orchestration_instance.as_ref();
                if let Some(i) = instance.and_then(|o| run.index(&o.instance_id)) {
                    run.dispatched(
                        i,
                        Dispatch::Activity {
                            task: request.task_id,
                        },
                    );
                }
                let (client, run, slots) = (client.clone(), Arc::clone(&run), Arc::clone(&slots));
                tokio::spawn(async move {
                    let _slot = slots.acquire().await;
                    act(client, run, request, token).await;
                });
            }
            Some(Request::HealthPing(_)) => {}
            other => run.error(format!("unexpected work item {other:?}")),
        }
    }
    if run.done() < run.n {
        run.error("the work-item stream ended".to_owned());
    }
}

async fn orchestrate(
    mut client: Client,
    run: Arc<Run>,
    request: OrchestratorRequest,
    token: String,
) {
    let id = request.instance_id;
    let Some(i) = run.index(&id) else {
        return run.error(format!("a work item for a foreign instance {id}"));
    };
    let turn = match run
        .shape
        .turn(i as u64, &request.past_events, &request.new_events)
    {
        Ok(turn) => turn,
        Err(e) => return run.error(format!("{id}: {e}")),
    };
    // Before the server can fire it: the timer's output is checked against this request.
    if let Some(fire_at) = turn.timer() {
        run.ledger.timer_requested(i, fire_at);
    }
    let response = OrchestratorResponse {
        instance_id: id.clone(),
        completion_token: token,
        actions: turn.actions,
        ..Default::default()
    };
    match client.complete_orchestrator_task(response).await {
        Ok(_) if turn.finished && !run.client_observes => run.mark_finished(i),
        Ok(_) => {}
        Err(status) => run.error(format!("{id}: CompleteOrchestratorTask failed: {status}")),
    }
}

async fn act(mut client: Client, run: Arc<Run>, request: ActivityRequest, token: String) {
    let id = request
        .orchestration_instance
        .map(|o| o.instance_id)
        .unwrap_or_default();
    if !run.owns(&id) {
        return run.error(format!("an activity for a foreign instance {id:?}"));
    }
    let result = match workload::activity(&request.name, request.input.as_deref()) {
        Ok(result) => result,
        Err(e) => return run.error(format!("{id}: {e}")),
    };
    let response = ActivityResponse {
        instance_id: id.clone(),
        task_id: request.task_id,
        result: Some(result),
        completion_token: token,
        ..Default::default()
    };
    if let Err(status) = client.complete_activity_task(response).await {
        run.error(format!("{id}: CompleteActivityTask failed: {status}"));
    }
}
