//! Event names as on the wire, and picking events out of a list.

use dt_proto::history_event::EventType;
use dt_proto::*;

pub(crate) const OS: &str = "orchestratorStarted";
pub(crate) const OC: &str = "orchestratorCompleted";
pub(crate) const ES: &str = "executionStarted";
pub(crate) const EC: &str = "executionCompleted";
pub(crate) const ET: &str = "executionTerminated";
pub(crate) const SUSPENDED: &str = "executionSuspended";
pub(crate) const RESUMED: &str = "executionResumed";
pub(crate) const TS: &str = "taskScheduled";
pub(crate) const TC: &str = "taskCompleted";
pub(crate) const TCR: &str = "timerCreated";
pub(crate) const TF: &str = "timerFired";
pub(crate) const ER: &str = "eventRaised";

pub(crate) fn kind(event: &HistoryEvent) -> &'static str {
    match &event.event_type {
        None => "<no eventType>",
        Some(EventType::ExecutionStarted(_)) => ES,
        Some(EventType::ExecutionCompleted(_)) => EC,
        Some(EventType::ExecutionTerminated(_)) => ET,
        Some(EventType::TaskScheduled(_)) => TS,
        Some(EventType::TaskCompleted(_)) => TC,
        Some(EventType::TaskFailed(_)) => "taskFailed",
        Some(EventType::SubOrchestrationInstanceCreated(_)) => "subOrchestrationInstanceCreated",
        Some(EventType::SubOrchestrationInstanceCompleted(_)) => {
            "subOrchestrationInstanceCompleted"
        }
        Some(EventType::SubOrchestrationInstanceFailed(_)) => "subOrchestrationInstanceFailed",
        Some(EventType::TimerCreated(_)) => TCR,
        Some(EventType::TimerFired(_)) => TF,
        Some(EventType::OrchestratorStarted(_)) => OS,
        Some(EventType::OrchestratorCompleted(_)) => OC,
        Some(EventType::EventSent(_)) => "eventSent",
        Some(EventType::EventRaised(_)) => ER,
        Some(EventType::ExecutionSuspended(_)) => SUSPENDED,
        Some(EventType::ExecutionResumed(_)) => RESUMED,
        Some(EventType::ExecutionRewound(_)) => "executionRewound",
        Some(_) => "<other>",
    }
}

pub(crate) fn kinds(events: &[HistoryEvent]) -> Vec<&'static str> {
    events.iter().map(kind).collect()
}

pub(crate) fn count(events: &[HistoryEvent], wanted: &str) -> usize {
    events.iter().filter(|e| kind(e) == wanted).count()
}

pub(crate) fn timers_fired(events: &[HistoryEvent]) -> Vec<&TimerFiredEvent> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::TimerFired(t)) => Some(t),
            _ => None,
        })
        .collect()
}

pub(crate) fn tasks_completed(events: &[HistoryEvent]) -> Vec<&TaskCompletedEvent> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::TaskCompleted(t)) => Some(t),
            _ => None,
        })
        .collect()
}

pub(crate) fn events_raised(events: &[HistoryEvent]) -> Vec<&EventRaisedEvent> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::EventRaised(r)) => Some(r),
            _ => None,
        })
        .collect()
}

pub(crate) fn execution_started(events: &[HistoryEvent]) -> Option<&ExecutionStartedEvent> {
    events.iter().find_map(|e| match &e.event_type {
        Some(EventType::ExecutionStarted(s)) => Some(s),
        _ => None,
    })
}
