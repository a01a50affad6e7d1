//! A work item as stores hand it out: the wire message, with an orchestration's past events
//! left in their history's encoding, so a turn sends them without encoding them again.

use crate::stats::WorkKind;
use dt_core::{Dispatch, EncodedEvents};
use dt_proto::work_item::Request;
use dt_proto::{OrchestratorRequest, WorkItem};
use prost::bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};

/// `orchestratorRequest` in `WorkItem`.
const ORCHESTRATOR_REQUEST_FIELD: u32 = 1;
/// `completionToken` in `WorkItem`.
const COMPLETION_TOKEN_FIELD: u32 = 10;

/// A leased work item. Encoded with [`prost::Message`] it is byte for byte the `WorkItem` it
/// stands for: an orchestration request's past events, kept as the history's encoding
/// beside a request whose `past_events` is empty, are written in `pastEvents`' place.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WireWorkItem {
    item: WorkItem,
    past_events: Option<EncodedEvents>,
}

impl WireWorkItem {
    /// A work item sent as it is.
    pub fn new(request: Request, completion_token: String) -> Self {
        Self::from(WorkItem {
            request: Some(request),
            completion_token,
        })
    }

    /// An orchestration work item (contract T7): a worker that streams history gets no past
    /// events once their encoding is over `threshold` bytes, and is told to fetch them; any
    /// other gets them all.
    pub fn orchestration(
        dispatch: Dispatch,
        completion_token: String,
        streams_history: bool,
        threshold: usize,
    ) -> Self {
        let Dispatch {
            mut request,
            past_events,
        } = dispatch;
        let past_events = if streams_history && past_events.len() > threshold {
            request.requires_history_streaming = true;
            None
        } else {
            Some(past_events)
        };
        Self {
            item: WorkItem {
                request: Some(Request::OrchestratorRequest(request)),
                completion_token,
            },
            past_events,
        }
    }

    /// The kind of work; `None` for a health ping.
    pub fn kind(&self) -> Option<WorkKind> {
        match self.item.request.as_ref()? {
            Request::OrchestratorRequest(_) => Some(WorkKind::Orchestration),
            Request::ActivityRequest(_) => Some(WorkKind::Activity),
            Request::EntityRequest(_) | Request::EntityRequestV2(_) => Some(WorkKind::Entity),
            Request::HealthPing(_) => None,
        }
    }

    /// The completion token naming the lease.
    pub fn completion_token(&self) -> &str {
        &self.item.completion_token
    }

    /// The plain message, past events decoded into the request.
    pub fn into_proto(self) -> WorkItem {
        let mut item = self.item;
        if let (Some(Request::OrchestratorRequest(request)), Some(past)) =
            (&mut item.request, self.past_events)
        {
            request.past_events = past.decode();
        }
        item
    }

    /// The request with its past events to be spliced in, when there are any.
    fn spliced(&self) -> Option<(&OrchestratorRequest, &EncodedEvents)> {
        match (&self.item.request, &self.past_events) {
            (Some(Request::OrchestratorRequest(request)), Some(past)) if !past.is_empty() => {
                Some((request, past))
            }
            _ => None,
        }
    }
}

impl From<WorkItem> for WireWorkItem {
    fn from(item: WorkItem) -> Self {
        Self {
            item,
            past_events: None,
        }
    }
}

/// Where `pastEvents` (field 3) goes in a request's encoding: after its fields 1 and 2, as
/// prost writes fields in number order.
fn past_events_offset(request: &OrchestratorRequest) -> usize {
    OrchestratorRequest {
        instance_id: request.instance_id.clone(),
        execution_id: request.execution_id.clone(),
        ..Default::default()
    }
    .encoded_len()
}

impl Message for WireWorkItem {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        let Some((request, past)) = self.spliced() else {
            return self.item.encode_raw(buf);
        };
        // The request without its past events is a few new events: encoded apart, then
        // written around the past events' bytes.
        let rest = request.encode_to_vec();
        let (head, tail) = rest.split_at(past_events_offset(request).min(rest.len()));
        prost::encoding::encode_key(ORCHESTRATOR_REQUEST_FIELD, WireType::LengthDelimited, buf);
        prost::encoding::encode_varint((rest.len() + past.len()) as u64, buf);
        buf.put_slice(head);
        buf.put_slice(past.as_bytes());
        buf.put_slice(tail);
        if !self.item.completion_token.is_empty() {
            prost::encoding::string::encode(
                COMPLETION_TOKEN_FIELD,
                &self.item.completion_token,
                buf,
            );
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        // Decoded, it is a plain work item: everything lands in the message.
        if let Some(past) = self.past_events.take()
            && let Some(Request::OrchestratorRequest(request)) = &mut self.item.request
        {
            request.past_events = past.decode();
        }
        self.item.merge_field(tag, wire_type, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        let Some((request, past)) = self.spliced() else {
            return self.item.encoded_len();
        };
        let body = request.encoded_len() + past.len();
        let token = if self.item.completion_token.is_empty() {
            0
        } else {
            prost::encoding::string::encoded_len(
                COMPLETION_TOKEN_FIELD,
                &self.item.completion_token,
            )
        };
        prost::encoding::key_len(ORCHESTRATOR_REQUEST_FIELD)
            + prost::encoding::encoded_len_varint(body as u64)
            + body
            + token
    }

    fn clear(&mut self) {
        self.item.clear();
        self.past_events = None;
    }
}
