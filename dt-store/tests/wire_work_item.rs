//! `WireWorkItem` encodes byte for byte as the plain `WorkItem` it stands for, whatever the
//! request holds, and prost decodes it back to that message.

use chrono::DateTime;
use dt_core::{Dispatch, History, events};
use dt_proto::work_item::Request;
use dt_proto::*;
use dt_store::WireWorkItem;
use proptest::prelude::*;
use prost::Message;
use std::collections::HashMap;

fn event() -> impl Strategy<Value = HistoryEvent> {
    (
        0i64..1_000_000,
        "[a-z]{0,12}",
        proptest::option::of(".{0,300}"),
        any::<bool>(),
    )
        .prop_map(|(secs, name, input, raised)| {
            let now = DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap_or_default();
            if raised {
                events::event_raised(name, input, now)
            } else {
                events::task_completed(secs as i32, input, now)
            }
        })
}

fn events(max: usize) -> impl Strategy<Value = Vec<HistoryEvent>> {
    proptest::collection::vec(event(), 0..max)
}

/// A request with every field either set or left at its default; past events apart.
fn request() -> impl Strategy<Value = OrchestratorRequest> {
    (
        "[a-z0-9-]{0,20}",
        proptest::option::of("[a-z0-9]{0,12}"),
        events(4),
        any::<bool>(),
        any::<bool>(),
        proptest::collection::hash_map("[a-z]{1,5}", "[a-z]{0,5}", 0..3),
        proptest::option::of("[0-9a-f]{0,16}"),
    )
        .prop_map(
            |(instance_id, execution_id, new_events, entity, streaming, props, span)| {
                OrchestratorRequest {
                    instance_id,
                    execution_id,
                    past_events: Vec::new(),
                    new_events,
                    entity_parameters: entity.then_some(OrchestratorEntityParameters {
                        entity_message_reorder_window: Some(prost_types::Duration {
                            seconds: 30,
                            nanos: 0,
                        }),
                    }),
                    requires_history_streaming: streaming,
                    properties: props
                        .into_iter()
                        .map(|(k, v)| {
                            let value = prost_types::Value {
                                kind: Some(prost_types::value::Kind::StringValue(v)),
                            };
                            (k, value)
                        })
                        .collect::<HashMap<_, _>>(),
                    orchestration_trace_context: span.map(|s| OrchestrationTraceContext {
                        span_id: Some(s),
                        span_start_time: None,
                    }),
                }
            },
        )
}

fn wire(request: &OrchestratorRequest, past: &[HistoryEvent], token: &str) -> WireWorkItem {
    let dispatch = Dispatch {
        request: request.clone(),
        past_events: History::from_events(past.to_vec()).encoded(),
    };
    WireWorkItem::orchestration(dispatch, token.to_owned(), false, 0)
}

fn plain(request: &OrchestratorRequest, past: &[HistoryEvent], token: &str) -> WorkItem {
    WorkItem {
        request: Some(Request::OrchestratorRequest(OrchestratorRequest {
            past_events: past.to_vec(),
            ..request.clone()
        })),
        completion_token: token.to_owned(),
    }
}

proptest! {
    #[test]
    fn encodes_as_the_plain_work_item(
        request in request(),
        past in events(30),
        token in "[0-9]{0,6}",
    ) {
        let wire = wire(&request, &past, &token);
        let plain = plain(&request, &past, &token);
        let bytes = wire.encode_to_vec();
        prop_assert_eq!(wire.encoded_len(), bytes.len());
        prop_assert_eq!(&bytes, &plain.encode_to_vec());
        prop_assert_eq!(&WorkItem::decode(&bytes[..])?, &plain);
        // Decoded as itself, it is the plain message too.
        prop_assert_eq!(WireWorkItem::decode(&bytes[..])?.into_proto(), plain.clone());
        prop_assert_eq!(wire.into_proto(), plain);
    }

    #[test]
    fn a_streaming_worker_gets_no_past_events_over_the_threshold(
        request in request(),
        past in events(10),
        threshold in 0usize..2000,
    ) {
        let dispatch = Dispatch {
            request: OrchestratorRequest { requires_history_streaming: false, ..request },
            past_events: History::from_events(past.clone()).encoded(),
        };
        let size = dispatch.past_events.len();
        let item = WireWorkItem::orchestration(dispatch, "1".into(), true, threshold);
        let Some(Request::OrchestratorRequest(sent)) =
            WorkItem::decode(&item.encode_to_vec()[..])?.request
        else {
            return Err(TestCaseError::fail("not an orchestration request"));
        };
        if size > threshold {
            prop_assert!(sent.requires_history_streaming && sent.past_events.is_empty());
        } else {
            prop_assert!(!sent.requires_history_streaming);
            prop_assert_eq!(sent.past_events, past);
        }
    }
}

#[test]
fn other_work_items_encode_as_they_are() {
    let plain = WorkItem {
        request: Some(Request::ActivityRequest(ActivityRequest {
            name: "act".into(),
            task_id: 7,
            ..Default::default()
        })),
        completion_token: "12".into(),
    };
    let wire = WireWorkItem::from(plain.clone());
    assert_eq!(wire.encode_to_vec(), plain.encode_to_vec());
    assert_eq!(wire.into_proto(), plain);
}
