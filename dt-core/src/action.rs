//! Orchestrator actions converted from the wire at the edge, with typed errors for what is
//! missing, so the rest of the core never matches on an unset oneof.

use crate::error::CoreError;
use crate::ids::InstanceId;
use crate::time::{check_event_timestamps, check_timestamp};
use dt_proto::orchestrator_action::OrchestratorActionType as Wire;
use dt_proto::*;

/// One action of an orchestrator's turn, with the id the worker gave it.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Run an activity.
    ScheduleTask {
        /// Action id; the activity's task id.
        id: i32,
        /// The wire action, kept whole so every field reaches the history and the work item.
        task: ScheduleTaskAction,
    },
    /// Fire a timer at `fire_at`.
    CreateTimer {
        /// Action id; the timer id.
        id: i32,
        /// When to fire.
        fire_at: prost_types::Timestamp,
    },
    /// Start a child orchestration.
    CreateSubOrchestration {
        /// Action id; the child's `taskScheduledId` in its parent.
        id: i32,
        /// The wire action.
        child: CreateSubOrchestrationAction,
    },
    /// Raise an event on another instance.
    SendEvent {
        /// Action id.
        id: i32,
        /// The receiving instance.
        target: InstanceId,
        /// Event name.
        name: String,
        /// Event payload.
        data: Option<String>,
    },
    /// End (or continue-as-new) this execution.
    Complete {
        /// Action id.
        id: i32,
        /// How it ends.
        completion: CompletionAction,
    },
    /// Signal or call an entity, or request or release a critical section's locks.
    EntityMessage {
        /// Action id.
        id: i32,
        /// The message, validated.
        message: EntityMessage,
    },
    /// Replace the history with the worker's rewritten one (answer to `executionRewound`).
    Rewind {
        /// The history without the failed results, with a fresh execution id in its
        /// `executionStarted`.
        new_history: Vec<HistoryEvent>,
    },
    /// Terminate another instance.
    Terminate {
        /// Action id.
        id: i32,
        /// The instance to terminate.
        target: InstanceId,
        /// Output to record on the terminated instance.
        reason: Option<String>,
        /// Also terminate its children.
        recurse: bool,
    },
}

/// What a `sendEntityMessage` action carries.
#[derive(Clone, Debug, PartialEq)]
pub enum EntityMessage {
    /// A one-way operation.
    Signal(EntityOperationSignaledEvent),
    /// An operation whose result the orchestration awaits.
    Call(EntityOperationCalledEvent),
    /// A critical section asking for locks.
    Lock(EntityLockRequestedEvent),
    /// A critical section releasing one entity.
    Unlock(EntityUnlockSentEvent),
}

impl EntityMessage {
    /// The entities the message names: its target, or a lock request's whole lock set.
    pub fn entities(&self) -> Vec<&str> {
        match self {
            Self::Signal(s) => s.target_instance_id.as_deref().into_iter().collect(),
            Self::Call(c) => c.target_instance_id.as_deref().into_iter().collect(),
            Self::Lock(l) => l.lock_set.iter().map(String::as_str).collect(),
            Self::Unlock(u) => u.target_instance_id.as_deref().into_iter().collect(),
        }
    }
}

/// How a `completeOrchestration` action ends the execution.
#[derive(Clone, Debug, PartialEq)]
pub enum CompletionAction {
    /// Finished with an output.
    Completed {
        /// The output.
        result: Option<String>,
    },
    /// Failed; the details are kept verbatim.
    Failed {
        /// The output, if any.
        result: Option<String>,
        /// The failure.
        details: Option<TaskFailureDetails>,
    },
    /// The worker acknowledged an `executionTerminated` event.
    Terminated {
        /// The termination reason, echoed back as the output.
        result: Option<String>,
    },
    /// Start a fresh execution with a new input.
    ContinueAsNew {
        /// The new input.
        input: Option<String>,
        /// A new version for the next execution, if given.
        new_version: Option<String>,
        /// External events the old execution received but had not consumed.
        carryover: Vec<HistoryEvent>,
    },
}

/// A worker's answer to one orchestration work item, validated.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TurnResponse {
    /// The actions, in the order the worker emitted them.
    pub actions: Vec<Action>,
    /// The custom status after this turn (absent clears it).
    pub custom_status: Option<String>,
    /// How many of the dispatched new events the worker processed; `None` means all.
    pub num_events_processed: Option<usize>,
    /// The worker's trace context, echoed in the next work item.
    pub trace_context: Option<OrchestrationTraceContext>,
}

impl TryFrom<OrchestratorResponse> for TurnResponse {
    type Error = CoreError;

    fn try_from(response: OrchestratorResponse) -> Result<Self, CoreError> {
        let num_events_processed = match response.num_events_processed {
            None => None,
            Some(n) if n >= 0 => Some(n as usize),
            Some(n) => {
                return Err(CoreError::InvalidArgument(format!(
                    "numEventsProcessed must not be negative, got {n}"
                )));
            }
        };
        let span_start = response
            .orchestration_trace_context
            .as_ref()
            .and_then(|t| t.span_start_time.as_ref());
        check_timestamp("orchestrationTraceContext.spanStartTime", span_start)?;
        let actions = response
            .actions
            .into_iter()
            .map(Action::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            actions,
            custom_status: response.custom_status,
            num_events_processed,
            trace_context: response.orchestration_trace_context,
        })
    }
}

impl TryFrom<OrchestratorAction> for Action {
    type Error = CoreError;

    fn try_from(action: OrchestratorAction) -> Result<Self, CoreError> {
        let id = action.id;
        let malformed = |reason: &str| CoreError::MalformedAction {
            action_id: id,
            reason: reason.to_owned(),
        };
        let timestamp =
            |field: &str, ts| check_timestamp(field, ts).map_err(|err| malformed(&err.to_string()));
        match action.orchestrator_action_type {
            None => Err(malformed("the action has no type set")),
            Some(Wire::ScheduleTask(task)) => {
                if task.name.is_empty() {
                    return Err(malformed("scheduleTask needs an activity name"));
                }
                Ok(Self::ScheduleTask { id, task })
            }
            Some(Wire::CreateTimer(timer)) => {
                let fire_at = timer
                    .fire_at
                    .ok_or_else(|| malformed("createTimer needs fireAt"))?;
                timestamp("createTimer.fireAt", Some(&fire_at))?;
                Ok(Self::CreateTimer { id, fire_at })
            }
            Some(Wire::CreateSubOrchestration(child)) => {
                if child.name.is_empty() {
                    return Err(malformed(
                        "createSubOrchestration needs an orchestrator name",
                    ));
                }
                Ok(Self::CreateSubOrchestration { id, child })
            }
            Some(Wire::SendEvent(send)) => {
                let target = send
                    .instance
                    .map(|i| i.instance_id)
                    .filter(|i| !i.is_empty())
                    .ok_or_else(|| malformed("sendEvent needs a target instance id"))?;
                Ok(Self::SendEvent {
                    id,
                    target: InstanceId::new(target),
                    name: send.name,
                    data: send.data,
                })
            }
            Some(Wire::CompleteOrchestration(complete)) => {
                for event in &complete.carryover_events {
                    check_event_timestamps("carryoverEvents", event)
                        .map_err(|err| malformed(&err.to_string()))?;
                }
                let completion = completion_from_wire(complete).map_err(|r| malformed(&r))?;
                Ok(Self::Complete { id, completion })
            }
            Some(Wire::TerminateOrchestration(terminate)) => {
                if terminate.instance_id.is_empty() {
                    return Err(malformed("terminateOrchestration needs an instance id"));
                }
                Ok(Self::Terminate {
                    id,
                    target: InstanceId::new(terminate.instance_id),
                    reason: terminate.reason,
                    recurse: terminate.recurse,
                })
            }
            Some(Wire::SendEntityMessage(send)) => {
                use dt_proto::send_entity_message_action::EntityMessageType as M;
                let message = match send.entity_message_type {
                    None => return Err(malformed("sendEntityMessage carries no message")),
                    Some(M::EntityOperationSignaled(s)) => {
                        timestamp("signal scheduledTime", s.scheduled_time.as_ref())?;
                        EntityMessage::Signal(s)
                    }
                    Some(M::EntityOperationCalled(c)) => {
                        timestamp("call scheduledTime", c.scheduled_time.as_ref())?;
                        EntityMessage::Call(c)
                    }
                    Some(M::EntityLockRequested(l)) => {
                        if l.critical_section_id.is_empty() {
                            return Err(malformed("entityLockRequested needs a criticalSectionId"));
                        }
                        EntityMessage::Lock(l)
                    }
                    Some(M::EntityUnlockSent(u)) => EntityMessage::Unlock(u),
                };
                let entities = message.entities();
                if entities.is_empty() || !entities.iter().all(|e| crate::entity::is_entity_id(e)) {
                    return Err(malformed(
                        "sendEntityMessage needs target entity ids shaped '@name@key'",
                    ));
                }
                Ok(Self::EntityMessage { id, message })
            }
            Some(Wire::RewindOrchestration(rewind)) => {
                let has_start = rewind.new_history.iter().any(|e| {
                    matches!(
                        e.event_type,
                        Some(history_event::EventType::ExecutionStarted(_))
                    )
                });
                if !has_start {
                    return Err(malformed(
                        "rewindOrchestration needs a newHistory with its executionStarted",
                    ));
                }
                for event in &rewind.new_history {
                    check_event_timestamps("newHistory", event)
                        .map_err(|err| malformed(&err.to_string()))?;
                }
                Ok(Self::Rewind {
                    new_history: rewind.new_history,
                })
            }
        }
    }
}

fn completion_from_wire(complete: CompleteOrchestrationAction) -> Result<CompletionAction, String> {
    let status = OrchestrationStatus::try_from(complete.orchestration_status).map_err(|_| {
        format!(
            "unknown orchestrationStatus {}",
            complete.orchestration_status
        )
    })?;
    Ok(match status {
        OrchestrationStatus::Completed => CompletionAction::Completed {
            result: complete.result,
        },
        OrchestrationStatus::Failed => CompletionAction::Failed {
            result: complete.result,
            details: complete.failure_details,
        },
        OrchestrationStatus::Terminated | OrchestrationStatus::Canceled => {
            CompletionAction::Terminated {
                result: complete.result,
            }
        }
        OrchestrationStatus::ContinuedAsNew => CompletionAction::ContinueAsNew {
            input: complete.result,
            new_version: complete.new_version,
            carryover: complete.carryover_events,
        },
        other => {
            return Err(format!(
                "completeOrchestration cannot end an execution as {}",
                other.as_str_name()
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(t: Wire) -> OrchestratorAction {
        OrchestratorAction {
            id: 7,
            orchestrator_action_type: Some(t),
        }
    }

    #[test]
    fn unset_oneof_is_a_typed_error() {
        let err = Action::try_from(OrchestratorAction {
            id: 3,
            ..Default::default()
        });
        assert!(matches!(
            err,
            Err(CoreError::MalformedAction { action_id: 3, .. })
        ));
    }

    #[test]
    fn table_of_malformed_actions() {
        let rows: Vec<(&str, Wire)> = vec![
            (
                "timer without fireAt",
                Wire::CreateTimer(CreateTimerAction::default()),
            ),
            (
                "task without name",
                Wire::ScheduleTask(ScheduleTaskAction::default()),
            ),
            (
                "child without name",
                Wire::CreateSubOrchestration(CreateSubOrchestrationAction::default()),
            ),
            (
                "event without target",
                Wire::SendEvent(SendEventAction::default()),
            ),
            (
                "completion as RUNNING",
                Wire::CompleteOrchestration(CompleteOrchestrationAction {
                    orchestration_status: OrchestrationStatus::Running as i32,
                    ..Default::default()
                }),
            ),
            (
                "terminate without target",
                Wire::TerminateOrchestration(TerminateOrchestrationAction::default()),
            ),
        ];
        for (row, wire) in rows {
            let got = Action::try_from(action(wire));
            assert!(
                matches!(got, Err(CoreError::MalformedAction { action_id: 7, .. })),
                "row {row:?} gave {got:?}"
            );
        }
    }

    #[test]
    fn negative_events_processed_is_rejected() {
        let got = TurnResponse::try_from(OrchestratorResponse {
            num_events_processed: Some(-1),
            ..Default::default()
        });
        assert!(matches!(got, Err(CoreError::InvalidArgument(_))));
    }

    #[test]
    fn continue_as_new_keeps_version_and_carryover() {
        let carried = crate::events::event_raised("e".into(), None, chrono::DateTime::UNIX_EPOCH);
        let got = Action::try_from(action(Wire::CompleteOrchestration(
            CompleteOrchestrationAction {
                orchestration_status: OrchestrationStatus::ContinuedAsNew as i32,
                result: Some("2".into()),
                new_version: Some("v2".into()),
                carryover_events: vec![carried.clone()],
                ..Default::default()
            },
        )));
        assert_eq!(
            got,
            Ok(Action::Complete {
                id: 7,
                completion: CompletionAction::ContinueAsNew {
                    input: Some("2".into()),
                    new_version: Some("v2".into()),
                    carryover: vec![carried],
                }
            })
        );
    }
}
