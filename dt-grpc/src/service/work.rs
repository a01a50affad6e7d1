//! The `GetWorkItems` stream: one task per worker that leases items from the store and pushes
//! them, pings while idle, and gives back everything unfinished when the stream ends. Items
//! stay the store's `WireWorkItem`s, which the transport writes as they are (see
//! `transport/work_items.rs`).

use super::{ServerStream, SidecarService};
use crate::status::to_status;
use dt_core::WorkFilters;
use dt_proto::work_item::Request as Item;
use dt_proto::*;
use dt_store::{WireWorkItem, WorkLimits, WorkerOptions};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Response, Status};

pub(super) async fn stream_work_items(
    service: &SidecarService,
    request: GetWorkItemsRequest,
) -> Result<Response<ServerStream<WireWorkItem>>, Status> {
    let store = service.store.clone();
    let history_streaming = request
        .capabilities
        .contains(&(WorkerCapability::HistoryStreaming as i32));
    let options = WorkerOptions {
        filters: WorkFilters::from(request.work_item_filters),
        history_streaming,
        limits: WorkLimits::from_wire(
            request.max_concurrent_orchestration_work_items,
            request.max_concurrent_activity_work_items,
            request.max_concurrent_entity_work_items,
        ),
    };
    let worker = store.connect_worker(options).await.map_err(to_status)?;
    tracing::info!(worker = worker.0, "worker connected");
    // One slot: the worker's own flow control decides the pace, and an item is leased only
    // when there is room to send it.
    let (tx, rx) = mpsc::channel::<Result<WireWorkItem, Status>>(1);
    let mut shutdown = service.shutdown.clone();
    let period = service.ping_interval;
    tokio::spawn(async move {
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let reserved = tokio::select! {
                permit = tx.reserve() => permit,
                _ = shutdown.wait_for(|down| *down) => break,
            };
            let Ok(permit) = reserved else {
                break;
            };
            let item = tokio::select! {
                item = store.next_work_item(worker) => item.map_err(to_status),
                _ = ping.tick() => {
                    Ok(WireWorkItem::new(Item::HealthPing(HealthPing {}), String::new()))
                }
                () = tx.closed() => break,
                _ = shutdown.wait_for(|down| *down) => {
                    permit.send(Err(Status::unavailable("the server is shutting down")));
                    break;
                }
            };
            let failed = item.is_err();
            permit.send(item);
            if failed {
                break;
            }
            ping.reset();
        }
        // Whatever the worker still holds goes back to the queues for the next worker.
        if let Err(err) = store.disconnect_worker(worker).await {
            tracing::error!(%err, worker = worker.0, "failed to release a worker's work items");
        }
        tracing::info!(worker = worker.0, "worker disconnected");
    });
    Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
}
