//! The errors of the pure layer: what a worker or client sent that cannot be applied.

use thiserror::Error;

/// Why an input could not be applied. Nothing was changed when one of these is returned.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// An action or field the protocol requires is missing or unusable.
    #[error("malformed action {action_id}: {reason}")]
    MalformedAction {
        /// The `OrchestratorAction.id` of the offending action.
        action_id: i32,
        /// What is wrong, in words a person can act on.
        reason: String,
    },
    /// A completion arrived for an instance that has no work item in flight.
    #[error("instance {0} has no work item in flight")]
    NoWorkInFlight(String),
    /// The request does not fit the instance's state (e.g. rewind of an instance that has
    /// not failed).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request is malformed independently of state.
    #[error("{0}")]
    InvalidArgument(String),
}
