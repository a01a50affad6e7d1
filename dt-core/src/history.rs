//! The committed history of an execution, kept decoded for the core's rules and encoded for
//! the wire, so that a work item sends the past without encoding it again.

use dt_proto::{HistoryEvent, OrchestratorRequest};
use prost::Message;
use std::borrow::Cow;
use std::sync::Arc;

/// `pastEvents` in `OrchestratorRequest`: the field the encoding is written for.
const PAST_EVENTS_FIELD: u32 = 3;

/// The events of one execution, in order, with their wire encoding beside them.
///
/// The encoding is the events as `pastEvents` entries of an `OrchestratorRequest` (field key,
/// length, event), grown by one entry per event pushed, so a work item carries it as it is
/// (see [`EncodedEvents`]). Every change goes through the methods here, which keep the two
/// forms equal. An archived history ([`History::archive`]) keeps only the encoding, a fraction
/// of the decoded size; it reads as empty through [`History::events`] until restored, and
/// [`History::to_events`] reads it either way.
#[derive(Clone, Default, PartialEq)]
pub struct History {
    events: Vec<HistoryEvent>,
    /// Shared with the work items sent from it; appending while one is still alive copies.
    encoded: Arc<Vec<u8>>,
    generation: u64,
    archived: bool,
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A history of `events`, generation 0.
    pub fn from_events(events: Vec<HistoryEvent>) -> Self {
        let encoded = Arc::new(encode_all(&events));
        Self {
            events,
            encoded,
            generation: 0,
            archived: false,
        }
    }

    /// The events (none while archived).
    pub fn events(&self) -> &[HistoryEvent] {
        &self.events
    }

    /// The events, whether live or archived.
    pub fn to_events(&self) -> Cow<'_, [HistoryEvent]> {
        if self.archived {
            Cow::Owned(decode_all(&self.encoded))
        } else {
            Cow::Borrowed(&self.events)
        }
    }

    /// How many events [`History::events`] holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether [`History::events`] is empty.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Appends one event.
    pub fn push(&mut self, event: HistoryEvent) {
        self.restore();
        prost::encoding::message::encode(
            PAST_EVENTS_FIELD,
            &event,
            Arc::make_mut(&mut self.encoded),
        );
        self.events.push(event);
    }

    /// Appends events in order.
    pub fn extend(&mut self, events: impl IntoIterator<Item = HistoryEvent>) {
        for event in events {
            self.push(event);
        }
    }

    /// Replaces every event (a rewind's rewritten history); a new generation.
    pub fn replace(&mut self, events: Vec<HistoryEvent>) {
        self.encoded = Arc::new(encode_all(&events));
        self.events = events;
        self.archived = false;
        self.generation += 1;
    }

    /// Removes every event (a new execution); a new generation.
    pub fn clear(&mut self) {
        self.replace(Vec::new());
    }

    /// Changes whenever the events stop being an append-only continuation of what they were
    /// (clear, replace); push/extend never change it. Archive/restore never change it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether only the encoding is kept.
    pub fn is_archived(&self) -> bool {
        self.archived
    }

    /// Drops the decoded events and keeps the encoding alone, trimmed to its size: finished
    /// instances are kept for queries, and decoded events cost several times their encoding.
    pub fn archive(&mut self) {
        if self.archived {
            return;
        }
        self.events = Vec::new();
        // A fresh allocation of the exact size: shrinking in place may keep the grown block.
        self.encoded = Arc::new(self.encoded.to_vec());
        self.archived = true;
    }

    /// Decodes an archived history back (before anything changes it).
    pub fn restore(&mut self) {
        if self.archived {
            self.events = decode_all(&self.encoded);
            self.archived = false;
        }
    }

    /// The encoding of the events as they are now, to send as a work item's past events.
    pub fn encoded(&self) -> EncodedEvents {
        EncodedEvents(Arc::clone(&self.encoded))
    }
}

impl std::ops::Deref for History {
    type Target = [HistoryEvent];

    fn deref(&self) -> &[HistoryEvent] {
        &self.events
    }
}

impl<'a> IntoIterator for &'a History {
    type Item = &'a HistoryEvent;
    type IntoIter = std::slice::Iter<'a, HistoryEvent>;

    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History")
            .field("events", &self.events)
            .field("encoded_bytes", &self.encoded.len())
            .field("generation", &self.generation)
            .field("archived", &self.archived)
            .finish()
    }
}

/// A history's events encoded as `pastEvents` entries of an `OrchestratorRequest`, as they
/// were when taken; cheap to clone (shared, never copied).
#[derive(Clone, Default, PartialEq)]
pub struct EncodedEvents(Arc<Vec<u8>>);

impl EncodedEvents {
    /// The encoded entries: the bytes of `pastEvents` within the request message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The encoded size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no events.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The events, decoded.
    pub fn decode(&self) -> Vec<HistoryEvent> {
        decode_all(&self.0)
    }
}

impl std::fmt::Debug for EncodedEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncodedEvents({} bytes)", self.0.len())
    }
}

fn encode_all(events: &[HistoryEvent]) -> Vec<u8> {
    let size = prost::encoding::message::encoded_len_repeated(PAST_EVENTS_FIELD, events);
    let mut encoded = Vec::with_capacity(size);
    prost::encoding::message::encode_repeated(PAST_EVENTS_FIELD, events, &mut encoded);
    encoded
}

/// Decodes bytes written by this module, so they always decode: an error would be a bug here,
/// and yields no events rather than a panic on a request path.
fn decode_all(encoded: &[u8]) -> Vec<HistoryEvent> {
    OrchestratorRequest::decode(encoded)
        .map(|request| request.past_events)
        .unwrap_or_default()
}
