//! `GET /api/v1/events`: the live feed of changes, as server-sent events. Changes from the
//! store are gathered for a moment and sent as one `change` event, so a busy server does not
//! flood an open page; a page that falls behind is told that anything may have changed.

use crate::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use dt_store::Change;
use serde::Serialize;
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::time::Duration;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};
use utoipa::ToSchema;

/// How long changes are gathered before they are sent.
const GATHER: Duration = Duration::from_millis(200);
/// The most changes gathered into one event.
const MAX_GATHERED: usize = 512;
/// Past this many ids, one event says "anything" instead of listing them.
const MAX_IDS: usize = 100;

/// The data of one `change` event.
#[derive(Serialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChangeEvent {
    /// Anything may have changed: re-read what you show.
    any: bool,
    /// Instances that changed.
    instance_ids: BTreeSet<String>,
    /// Entities that changed.
    entity_ids: BTreeSet<String>,
}

fn gather(changes: Vec<Result<Change, impl std::error::Error>>) -> ChangeEvent {
    let mut event = ChangeEvent::default();
    for change in changes {
        match change {
            Ok(Change::Instance(id)) => {
                event.instance_ids.insert(id);
            }
            Ok(Change::Entity(id)) => {
                event.entity_ids.insert(id);
            }
            // A lagging receiver has missed changes it cannot name.
            Ok(Change::Any) | Err(_) => event.any = true,
        }
    }
    if event.instance_ids.len() + event.entity_ids.len() > MAX_IDS {
        event = ChangeEvent {
            any: true,
            ..Default::default()
        };
    }
    event
}

/// Server-sent events named `change`, each with a JSON [`ChangeEvent`]; the stream ends when
/// the server shuts down.
#[utoipa::path(get, path = "/api/v1/events", tag = "operations",
    responses((status = 200, content_type = "text/event-stream", body = ChangeEvent,
        description = "A stream of `change` events")))]
pub(crate) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut shutdown = state.shutdown.clone();
    let changes = BroadcastStream::new(state.store.subscribe())
        .chunks_timeout(MAX_GATHERED, GATHER)
        .map(|changes| {
            let data = serde_json::to_string(&gather(changes)).unwrap_or_default();
            Ok(Event::default().event("change").data(data))
        });
    let stream = futures_util::StreamExt::take_until(changes, async move {
        let _ = shutdown.wait_for(|down| *down).await;
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
