//! The `durabletask_rs.testing.v1.TimeControl` gRPC service over a [`TimeSkipping`].

use super::{TimeSkipping, TimeSkippingError};
use crate::status::to_status;
use dt_core::to_timestamp;
use dt_proto::testing::v1 as pb;
use dt_proto::testing::v1::time_control_server::TimeControl;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// The time-control service of one backend.
#[derive(Clone, Debug)]
pub struct TimeControlService(Arc<TimeSkipping>, watch::Receiver<bool>);

impl TimeControlService {
    /// The service over a backend's time skipping; `shutdown` turning true ends open holds.
    pub fn new(control: Arc<TimeSkipping>, shutdown: watch::Receiver<bool>) -> Self {
        Self(control, shutdown)
    }
}

/// One hold taken by a `HoldTimeSkipping` stream, released when dropped.
struct StreamHold(Arc<TimeSkipping>);

impl Drop for StreamHold {
    fn drop(&mut self) {
        // An Unlock call may have released it already; nothing is left to do then.
        let _ = self.0.unlock();
    }
}

fn to_status_of(err: TimeSkippingError) -> Status {
    match err {
        TimeSkippingError::Off | TimeSkippingError::NotLocked => {
            Status::failed_precondition(err.to_string())
        }
        TimeSkippingError::InvalidArgument(m) => Status::invalid_argument(m),
        TimeSkippingError::Store(err) => to_status(err),
    }
}

fn to_duration(d: chrono::Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.num_seconds(),
        nanos: d.subsec_nanos(),
    }
}

#[tonic::async_trait]
impl TimeControl for TimeControlService {
    type HoldTimeSkippingStream = ReceiverStream<Result<pb::HoldTimeSkippingResponse, Status>>;

    async fn hold_time_skipping(
        &self,
        _: Request<pb::HoldTimeSkippingRequest>,
    ) -> Result<Response<Self::HoldTimeSkippingStream>, Status> {
        self.0.lock().map_err(to_status_of)?;
        let hold = StreamHold(self.0.clone());
        let (tx, rx) = mpsc::channel(1);
        let mut shutdown = self.1.clone();
        tokio::spawn(async move {
            let _hold = hold;
            if tx.send(Ok(pb::HoldTimeSkippingResponse {})).await.is_err() {
                return;
            }
            // The receiver is the response stream: dropped when the call ends for any reason.
            tokio::select! {
                () = tx.closed() => {}
                _ = shutdown.wait_for(|down| *down) => {}
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_current_time(
        &self,
        _: Request<pb::GetCurrentTimeRequest>,
    ) -> Result<Response<pb::GetCurrentTimeResponse>, Status> {
        Ok(Response::new(pb::GetCurrentTimeResponse {
            time: Some(to_timestamp(self.0.now())),
        }))
    }

    async fn get_time_skipping_status(
        &self,
        _: Request<pb::GetTimeSkippingStatusRequest>,
    ) -> Result<Response<pb::TimeSkippingStatus>, Status> {
        let s = self.0.status().await.map_err(to_status_of)?;
        Ok(Response::new(pb::TimeSkippingStatus {
            enabled: s.enabled,
            current_time: Some(to_timestamp(s.now)),
            demand: s.demand,
            holds: s.holds,
            next_target: s.view.next_target.map(to_timestamp),
            blockers: s
                .view
                .blockers
                .iter()
                .map(|b| pb::Blocker {
                    kind: b.kind.as_str().to_owned(),
                    id: b.id.clone(),
                })
                .collect(),
            blocker_count: u32::try_from(s.view.blocker_count).unwrap_or(u32::MAX),
            budget_left: s.budget_left,
            budget_exhausted: s.budget_exhausted,
            skipped: Some(to_duration(s.skipped)),
        }))
    }

    async fn skip(
        &self,
        request: Request<pb::SkipRequest>,
    ) -> Result<Response<pb::SkipResponse>, Status> {
        let d = request.into_inner().duration.unwrap_or_default();
        let by = std::time::Duration::try_from(d).map_err(|_| {
            Status::invalid_argument("duration must be a non-negative protobuf Duration")
        })?;
        let (time, fired) = self.0.skip(by).await.map_err(to_status_of)?;
        Ok(Response::new(pb::SkipResponse {
            time: Some(to_timestamp(time)),
            targets_fired: fired,
        }))
    }

    async fn lock_time_skipping(
        &self,
        _: Request<pb::LockTimeSkippingRequest>,
    ) -> Result<Response<pb::LockTimeSkippingResponse>, Status> {
        self.0.lock().map_err(to_status_of)?;
        Ok(Response::new(pb::LockTimeSkippingResponse {}))
    }

    async fn unlock_time_skipping(
        &self,
        _: Request<pb::UnlockTimeSkippingRequest>,
    ) -> Result<Response<pb::UnlockTimeSkippingResponse>, Status> {
        self.0.unlock().map_err(to_status_of)?;
        Ok(Response::new(pb::UnlockTimeSkippingResponse {}))
    }
}
