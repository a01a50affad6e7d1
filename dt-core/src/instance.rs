//! The state of one orchestration instance and how its work items are framed.

use crate::effect::{NewInstance, ParentLink};
use crate::events::{self, EventKind};
use crate::history::{EncodedEvents, History};
use crate::ids::{ExecutionId, InstanceId};
use crate::status::RuntimeStatus;
use crate::time::{from_timestamp, to_timestamp};
use chrono::{DateTime, Utc};
use dt_proto::history_event::EventType;
use dt_proto::*;
use std::collections::{HashMap, VecDeque};

/// One orchestration instance: metadata, the current execution's history, and the events on
/// their way to the worker.
///
/// Events move inbox → in flight (one work item at a time, framed by a fresh
/// `orchestratorStarted`) → history (when the worker's answer is committed). An abandoned
/// or lost work item puts its events back at the front of the inbox, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// Instance id.
    pub id: InstanceId,
    /// Orchestrator name.
    pub name: String,
    /// Version of the current execution.
    pub version: Option<String>,
    /// Runtime status.
    pub status: RuntimeStatus,
    /// Input of the current execution.
    pub input: Option<String>,
    /// Output once finished.
    pub output: Option<String>,
    /// Custom status as last reported by the worker.
    pub custom_status: Option<String>,
    /// Failure details once failed.
    pub failure: Option<Box<TaskFailureDetails>>,
    /// The current execution.
    pub execution_id: ExecutionId,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub last_updated_at: DateTime<Utc>,
    /// When it reached a terminal status.
    pub completed_at: Option<DateTime<Utc>>,
    /// First dispatch not before this time.
    pub scheduled_start: Option<DateTime<Utc>>,
    /// The parent execution, for sub-orchestrations.
    pub parent: Option<Box<ParentLink>>,
    /// Tags given at creation.
    pub tags: HashMap<String, String>,
    /// The creator's trace context.
    pub parent_trace_context: Option<Box<TraceContext>>,
    /// The worker's trace context, echoed back in every work item.
    pub trace_context: Option<Box<OrchestrationTraceContext>>,
    /// Committed history of the current execution (see [`History`] for its archived form).
    pub history: History,
    /// Events waiting for the next work item, in arrival order.
    pub inbox: VecDeque<HistoryEvent>,
    /// The new events of the work item in flight, starting with its `orchestratorStarted`.
    pub in_flight: Option<Vec<HistoryEvent>>,
    /// Suspended as far as clients are concerned: set when a suspend is accepted, cleared when
    /// a resume is, before the worker has seen either, so back-to-back requests pair up.
    pub suspend_requested: bool,
    /// Dispatch even with an empty inbox: after a rewind the worker must replay the rewritten
    /// history once, though nothing new has happened.
    pub replay_requested: bool,
}

/// An orchestration work item body, ready to send: the request without its past events, and
/// the past events as the history's encoding, taken without copying or encoding them.
#[derive(Clone, Debug, PartialEq)]
pub struct Dispatch {
    /// The request; its `past_events` is empty.
    pub request: OrchestratorRequest,
    /// The past events, encoded as the request's `pastEvents` entries.
    pub past_events: EncodedEvents,
}

impl Dispatch {
    /// The whole request, past events decoded into it.
    pub fn into_request(self) -> OrchestratorRequest {
        OrchestratorRequest {
            past_events: self.past_events.decode(),
            ..self.request
        }
    }
}

impl Instance {
    /// A new instance in `Pending`, whose inbox holds its `executionStarted`.
    pub fn new(spec: NewInstance, execution_id: ExecutionId, now: DateTime<Utc>) -> Self {
        let started = spec.execution_started(&execution_id, now);
        Self {
            id: InstanceId::new(spec.id),
            name: spec.name,
            version: spec.version,
            status: RuntimeStatus::Pending,
            input: spec.input,
            output: None,
            custom_status: None,
            failure: None,
            execution_id,
            created_at: now,
            last_updated_at: now,
            completed_at: None,
            scheduled_start: spec.scheduled_start,
            parent: spec.parent.map(Box::new),
            tags: spec.tags,
            parent_trace_context: spec.parent_trace_context.map(Box::new),
            trace_context: None,
            history: History::new(),
            inbox: VecDeque::from([started]),
            in_flight: None,
            suspend_requested: false,
            replay_requested: false,
        }
    }

    /// Whether the instance has finished for good.
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// The version filters compare against (absent counts as `""`).
    pub fn filter_version(&self) -> &str {
        self.version.as_deref().unwrap_or("")
    }

    /// When a scheduled start keeps the instance from being dispatched, the time it is due.
    pub fn start_delayed_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.scheduled_start.filter(|t| {
            *t > now && self.history.is_empty() && self.status == RuntimeStatus::Pending
        })
    }

    /// Whether a work item can be sent now: alive, nothing in flight, something new to say, a
    /// scheduled start that is due, and not a suspended instance whose inbox holds nothing that
    /// would wake it (events for it wait for the resume).
    pub fn is_dispatchable(&self, now: DateTime<Utc>) -> bool {
        if self.is_terminal() || self.in_flight.is_some() {
            return false;
        }
        if self.inbox.is_empty() && !self.replay_requested {
            return false;
        }
        if self.start_delayed_until(now).is_some() {
            return false;
        }
        if self.status == RuntimeStatus::Suspended {
            return self
                .inbox
                .iter()
                .any(|e| matches!(EventKind::of(e), EventKind::Resumed | EventKind::Terminated));
        }
        true
    }

    /// Moves the inbox into flight and returns the work item. `None` when not dispatchable.
    ///
    /// The framing `orchestratorStarted` is stamped no earlier than any timer it delivers,
    /// because the worker takes its clock from it and a timer must never look early.
    pub fn dispatch(&mut self, now: DateTime<Utc>) -> Option<Dispatch> {
        if !self.is_dispatchable(now) {
            return None;
        }
        let latest_timer = self
            .inbox
            .iter()
            .filter_map(|e| match &e.event_type {
                Some(EventType::TimerFired(t)) => t.fire_at.as_ref().map(from_timestamp),
                _ => None,
            })
            .max();
        let started_at = latest_timer.map_or(now, |t| t.max(now));
        let mut new_events = Vec::with_capacity(self.inbox.len() + 1);
        new_events.push(events::orchestrator_started(started_at));
        // The worker requires a rewind work item to be exactly [orchestratorStarted,
        // executionRewound]; anything that arrived meanwhile waits for the replay after it.
        let take = match self.inbox.front().map(EventKind::of) {
            Some(EventKind::Rewound) => 1,
            _ => self.inbox.len(),
        };
        new_events.extend(self.inbox.drain(..take));
        self.replay_requested = false;
        let request = OrchestratorRequest {
            instance_id: self.id.as_str().to_owned(),
            execution_id: Some(self.execution_id.as_str().to_owned()),
            new_events: new_events.clone(),
            orchestration_trace_context: self.trace_context.as_deref().cloned(),
            ..Default::default()
        };
        self.in_flight = Some(new_events);
        Some(Dispatch {
            request,
            past_events: self.history.encoded(),
        })
    }

    /// Returns the in-flight events to the front of the inbox (dropping their framing
    /// `orchestratorStarted`, which the next dispatch renews). No-op when nothing is in flight.
    pub fn abandon(&mut self) {
        if let Some(new_events) = self.in_flight.take() {
            self.requeue_front(new_events);
        }
    }

    pub(crate) fn requeue_front(&mut self, events: Vec<HistoryEvent>) {
        for event in events.into_iter().rev() {
            if !matches!(event.event_type, Some(EventType::OrchestratorStarted(_))) {
                self.inbox.push_front(event);
            }
        }
    }

    /// The instance as clients see it. Without payloads, input and output are left out but
    /// custom status and failure details stay (the SDK reads them on start waits).
    pub fn to_state(&self, include_payloads: bool) -> OrchestrationState {
        OrchestrationState {
            instance_id: self.id.as_str().to_owned(),
            name: self.name.clone(),
            version: self.version.clone(),
            orchestration_status: self.status.to_wire() as i32,
            scheduled_start_timestamp: self.scheduled_start.map(to_timestamp),
            created_timestamp: Some(to_timestamp(self.created_at)),
            last_updated_timestamp: Some(to_timestamp(self.last_updated_at)),
            input: if include_payloads {
                self.input.clone()
            } else {
                None
            },
            output: if include_payloads {
                self.output.clone()
            } else {
                None
            },
            custom_status: self.custom_status.clone(),
            failure_details: self.failure.as_deref().cloned(),
            execution_id: Some(self.execution_id.as_str().to_owned()),
            completed_timestamp: self.completed_at.map(to_timestamp),
            parent_instance_id: self.parent.as_ref().map(|p| p.instance.as_str().to_owned()),
            tags: self.tags.clone(),
        }
    }

    /// Packs the history of a finished instance into its wire encoding and drops the decoded
    /// events: finished instances are kept for queries, and decoded events cost several times
    /// their encoded size. No-op unless terminal. Anything that reads or changes the history
    /// of a finished instance goes through [`Instance::full_history`] or
    /// [`Instance::restore_history`].
    pub fn archive(&mut self) {
        if self.is_terminal() {
            self.history.archive();
        }
    }

    /// Unpacks an archived history (before a rewind changes it).
    pub fn restore_history(&mut self) {
        self.history.restore();
    }

    /// The committed history, whether live or archived.
    pub fn full_history(&self) -> std::borrow::Cow<'_, [HistoryEvent]> {
        self.history.to_events()
    }

    /// The ids of the children this execution created, in creation order.
    pub fn children(&self) -> Vec<InstanceId> {
        self.full_history()
            .iter()
            .filter_map(|e| match &e.event_type {
                Some(EventType::SubOrchestrationInstanceCreated(c)) => {
                    Some(InstanceId::new(c.instance_id.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// What a restart of this instance creates: same name, version, input, tags.
    pub fn restart_spec(&self, id: String) -> NewInstance {
        NewInstance {
            id,
            name: self.name.clone(),
            version: self.version.clone(),
            input: self.input.clone(),
            tags: self.tags.clone(),
            parent: None,
            parent_trace_context: self.parent_trace_context.as_deref().cloned(),
            scheduled_start: None,
        }
    }
}
