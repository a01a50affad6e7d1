//! Inputs that reach an instance from outside its own work items: external events, results
//! of its work, suspend, resume and terminate requests, and the terminal transition itself.

use crate::effect::Effect;
use crate::error::CoreError;
use crate::events::{self, EventKind};
use crate::ids::ExecutionId;
use crate::instance::Instance;
use crate::status::RuntimeStatus;
use chrono::{DateTime, Utc};
use dt_proto::*;

/// What happened to an event offered to an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Queued for the next work item.
    Queued,
    /// Dropped: the instance is terminal or has moved to another execution.
    Dropped,
}

/// What a termination request did.
#[derive(Clone, Debug, PartialEq)]
pub enum TerminateOutcome {
    /// The instance was already terminal (or a termination is already on its way).
    Ignored,
    /// `executionTerminated` was queued for the worker to acknowledge.
    Requested,
    /// The instance had never run, so it was terminated on the spot; carry out the effects.
    Terminated(Vec<Effect>),
}

impl Instance {
    /// Offers an external event (raised by a client or sent by another orchestration).
    pub fn deliver(&mut self, event: HistoryEvent, now: DateTime<Utc>) -> Delivery {
        if self.is_terminal() {
            return Delivery::Dropped;
        }
        self.inbox.push_back(event);
        self.last_updated_at = now;
        Delivery::Queued
    }

    /// Offers the result of work scheduled by `execution`; dropped if the instance has moved on,
    /// so a stale result can never complete a task of a newer execution that reuses its id.
    pub fn deliver_result(
        &mut self,
        execution: &ExecutionId,
        event: HistoryEvent,
        now: DateTime<Utc>,
    ) -> Delivery {
        if *execution != self.execution_id {
            return Delivery::Dropped;
        }
        self.deliver(event, now)
    }

    /// Queues `executionSuspended` unless the instance is terminal or already (logically)
    /// suspended. Returns whether an event was queued.
    pub fn suspend(&mut self, reason: Option<String>, now: DateTime<Utc>) -> bool {
        if self.is_terminal() || self.suspend_requested {
            return false;
        }
        self.suspend_requested = true;
        self.deliver(events::execution_suspended(reason, now), now) == Delivery::Queued
    }

    /// Queues `executionResumed` only if the instance is (logically) suspended: the Python
    /// worker fails an orchestration that receives a resume while running.
    pub fn resume(&mut self, reason: Option<String>, now: DateTime<Utc>) -> bool {
        if self.is_terminal() || !self.suspend_requested {
            return false;
        }
        self.suspend_requested = false;
        self.deliver(events::execution_resumed(reason, now), now) == Delivery::Queued
    }

    /// Terminates the instance. One that has never run (still pending, nothing in flight)
    /// ends at once, because no worker may ever pick it up (a scheduled start, a filter no
    /// worker matches); otherwise the worker acknowledges an `executionTerminated`.
    pub fn terminate(
        &mut self,
        reason: Option<String>,
        recurse: bool,
        now: DateTime<Utc>,
    ) -> TerminateOutcome {
        if self.is_terminal() {
            return TerminateOutcome::Ignored;
        }
        if self.status == RuntimeStatus::Pending && self.in_flight.is_none() {
            let effects = self.finish(RuntimeStatus::Terminated, reason, None, now);
            return TerminateOutcome::Terminated(effects);
        }
        let already = self
            .inbox
            .iter()
            .any(|e| EventKind::of(e) == EventKind::Terminated);
        if already {
            return TerminateOutcome::Ignored;
        }
        self.deliver(events::execution_terminated(reason, recurse, now), now);
        TerminateOutcome::Requested
    }

    /// Terminates the instance on the spot, without asking a worker (work in flight is
    /// discarded; its answer will find nothing to apply to). Returns the effects; nothing if
    /// the instance was already terminal.
    pub fn terminate_now(&mut self, reason: Option<String>, now: DateTime<Utc>) -> Vec<Effect> {
        if self.is_terminal() {
            return Vec::new();
        }
        self.history.push(events::execution_completed(
            OrchestrationStatus::Terminated,
            reason.clone(),
            None,
            now,
        ));
        self.finish(RuntimeStatus::Terminated, reason, None, now)
    }

    /// Fails the instance with `details` whatever it was doing (its in-flight work item is
    /// discarded), for answers that cannot be applied and limits that were hit.
    pub fn fail_with(&mut self, details: TaskFailureDetails, now: DateTime<Utc>) -> Vec<Effect> {
        if self.is_terminal() {
            return Vec::new();
        }
        self.history.push(events::execution_completed(
            OrchestrationStatus::Failed,
            None,
            Some(details.clone()),
            now,
        ));
        self.finish(RuntimeStatus::Failed, None, Some(details), now)
    }

    /// Enters a terminal status: records output and failure, clears pending work, and returns
    /// the parent's notification and, for a recursive termination, the children's.
    pub(crate) fn finish(
        &mut self,
        status: RuntimeStatus,
        output: Option<String>,
        failure: Option<TaskFailureDetails>,
        now: DateTime<Utc>,
    ) -> Vec<Effect> {
        self.status = status;
        self.output = output;
        self.failure = failure.map(Box::new);
        self.completed_at = Some(now);
        self.last_updated_at = now;
        self.inbox.clear();
        self.in_flight = None;
        self.suspend_requested = false;
        let mut effects: Vec<Effect> = self.parent_notification(now).into_iter().collect();
        if status == RuntimeStatus::Terminated && self.termination_recurses() {
            for child in self.children() {
                effects.push(Effect::Terminate {
                    target: child,
                    reason: self.output.clone(),
                    recurse: true,
                });
            }
        }
        effects
    }

    /// What a terminal child tells its parent: its output, or its failure details verbatim
    /// (a terminated child has none, so they are made from the reason). `None` for instances
    /// without a parent or not yet terminal.
    pub fn parent_notification(&self, now: DateTime<Utc>) -> Option<Effect> {
        let parent = self.parent.as_ref()?;
        let task_id = parent.task_id;
        let event = match self.status {
            RuntimeStatus::Completed => {
                events::sub_orchestration_completed(task_id, self.output.clone(), now)
            }
            RuntimeStatus::Failed => {
                let details =
                    self.failure
                        .as_deref()
                        .cloned()
                        .unwrap_or_else(|| TaskFailureDetails {
                            error_type: "OrchestrationFailed".to_owned(),
                            error_message: format!("sub-orchestration '{}' failed", self.id),
                            ..Default::default()
                        });
                events::sub_orchestration_failed(task_id, details, now)
            }
            RuntimeStatus::Terminated | RuntimeStatus::Canceled => {
                events::sub_orchestration_failed(task_id, self.terminated_details(), now)
            }
            RuntimeStatus::Pending
            | RuntimeStatus::Running
            | RuntimeStatus::Suspended
            | RuntimeStatus::ContinuedAsNew => {
                return None;
            }
        };
        Some(Effect::NotifyParent {
            parent: (**parent).clone(),
            event,
        })
    }

    /// Reopens a failed instance for a rewind: the worker answers the `executionRewound` with
    /// the rewritten history (see [`crate::Action::Rewind`]). `parent_execution` is the new
    /// execution of a parent being rewound with it.
    pub fn rewind(
        &mut self,
        reason: Option<String>,
        parent_execution: Option<&ExecutionId>,
        now: DateTime<Utc>,
    ) -> Result<(), CoreError> {
        if self.status != RuntimeStatus::Failed {
            return Err(CoreError::FailedPrecondition(format!(
                "orchestration instance '{}' is {:?}; only a failed instance can be rewound",
                self.id, self.status
            )));
        }
        self.restore_history();
        self.status = RuntimeStatus::Running;
        self.output = None;
        self.failure = None;
        self.completed_at = None;
        self.last_updated_at = now;
        self.in_flight = None;
        self.inbox.clear();
        self.replay_requested = false;
        self.inbox.push_back(events::execution_rewound(
            reason,
            parent_execution.map(|e| e.as_str().to_owned()),
            now,
        ));
        Ok(())
    }

    fn terminated_details(&self) -> TaskFailureDetails {
        let reason = self.output.as_deref().unwrap_or("no reason given");
        TaskFailureDetails {
            error_type: "TerminatedError".to_owned(),
            error_message: format!("sub-orchestration '{}' was terminated: {reason}", self.id),
            ..Default::default()
        }
    }

    fn termination_recurses(&self) -> bool {
        self.history.iter().any(|e| {
            matches!(
                &e.event_type,
                Some(history_event::EventType::ExecutionTerminated(t)) if t.recurse
            )
        })
    }
}
