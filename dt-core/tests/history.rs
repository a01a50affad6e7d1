//! `History` against a plain list of events: random changes keep its encoding equal to
//! encoding the events afresh, and its generation moves exactly when the events stop being an
//! append-only continuation of what they were.

use chrono::DateTime;
use dt_core::History;
use dt_core::events;
use dt_core::proto::{HistoryEvent, OrchestratorRequest};
use proptest::prelude::*;
use prost::Message;

#[derive(Clone, Debug)]
enum Op {
    Push(Box<HistoryEvent>),
    Extend(Vec<HistoryEvent>),
    Replace(Vec<HistoryEvent>),
    Clear,
    Archive,
    Restore,
}

fn event() -> impl Strategy<Value = HistoryEvent> {
    (
        0i64..1_000_000,
        "[a-z]{0,12}",
        proptest::option::of(".{0,200}"),
        0i32..5,
    )
        .prop_map(|(secs, name, input, kind)| {
            let now = DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap_or_default();
            match kind {
                0 => events::event_raised(String::new(), None, now),
                1 => events::task_completed(secs as i32, input, now),
                _ => events::event_raised(name, input, now),
            }
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => event().prop_map(|e| Op::Push(Box::new(e))),
        2 => proptest::collection::vec(event(), 0..4).prop_map(Op::Extend),
        1 => proptest::collection::vec(event(), 0..6).prop_map(Op::Replace),
        1 => Just(Op::Clear),
        1 => Just(Op::Archive),
        1 => Just(Op::Restore),
    ]
}

/// The `pastEvents` encoding of `events`, as prost writes it in a request.
fn plain_encoding(events: &[HistoryEvent]) -> Vec<u8> {
    OrchestratorRequest {
        past_events: events.to_vec(),
        ..Default::default()
    }
    .encode_to_vec()
}

proptest! {
    #[test]
    fn history_matches_a_plain_list(ops in proptest::collection::vec(op(), 0..40)) {
        let mut history = History::new();
        let mut model: Vec<HistoryEvent> = Vec::new();
        let mut generation = 0;
        for op in ops {
            let taken = history.encoded();
            let before = model.clone();
            match op.clone() {
                Op::Push(e) => {
                    history.push(*e.clone());
                    model.push(*e);
                }
                Op::Extend(es) => {
                    history.extend(es.clone());
                    model.extend(es);
                }
                Op::Replace(es) => {
                    history.replace(es.clone());
                    model = es;
                    generation += 1;
                }
                Op::Clear => {
                    history.clear();
                    model.clear();
                    generation += 1;
                }
                Op::Archive => history.archive(),
                Op::Restore => history.restore(),
            }
            prop_assert_eq!(history.generation(), generation, "after {:?}", op);
            prop_assert_eq!(&history.to_events()[..], &model[..], "after {:?}", op);
            if history.is_archived() {
                prop_assert!(history.events().is_empty());
            } else {
                prop_assert_eq!(history.events(), &model[..]);
                prop_assert_eq!(history.len(), model.len());
            }
            let encoded = history.encoded();
            prop_assert_eq!(encoded.as_bytes(), &plain_encoding(&model)[..], "after {:?}", op);
            prop_assert_eq!(encoded.decode(), model.clone());
            // What a work item took before the change is untouched by it.
            prop_assert_eq!(taken.as_bytes(), &plain_encoding(&before)[..]);
        }
    }
}

fn completed(now: DateTime<chrono::Utc>) -> HistoryEvent {
    events::task_completed(1, None, now)
}

#[test]
fn from_events_starts_at_generation_zero_and_archive_keeps_the_generation() {
    let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default();
    let mut history = History::from_events(vec![completed(now)]);
    assert_eq!(history.generation(), 0);
    history.clear();
    history.push(completed(now));
    assert_eq!(history.generation(), 1);
    history.archive();
    assert!(history.is_archived() && history.is_empty());
    assert_eq!(history.generation(), 1);
    assert_eq!(history.to_events().len(), 1);
    history.restore();
    assert_eq!(history.generation(), 1);
    assert_eq!(history.events(), [completed(now)]);
}
