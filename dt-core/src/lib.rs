//! Pure, synchronous logic of a Durable Task orchestration backend.
//!
//! An [`Instance`] holds one orchestration's state: its committed history, the events waiting
//! for the next work item (the inbox) and the events of the work item in flight. Everything
//! that changes an instance is a method here that takes the current time as an argument and
//! returns the [`Effect`]s other parts of the system must carry out (activities to run, timers,
//! children to start, events for other instances). No I/O, no clock, no async: a store persists
//! the new state and the effects atomically, and any store can reuse this crate.

mod action;
mod effect;
mod entity;
mod error;
pub mod events;
mod filter;
mod history;
mod ids;
mod instance;
mod lifecycle;
mod locks;
mod status;
mod time;
mod turn;

pub use action::{Action, CompletionAction, EntityMessage, TurnResponse};
pub use effect::{ActivityTask, Effect, NewInstance, ParentLink, TimerTask};
pub use entity::{
    Entity, EntityBatch, EntityOutcome, EntityWorkItemFormat, Operation, is_entity_id,
};
pub use error::CoreError;
pub use events::EventKind;
pub use filter::{NameFilter, WorkFilters, entity_name};
pub use history::{EncodedEvents, History};
pub use ids::{ExecutionId, InstanceId};
pub use instance::{Dispatch, Instance};
pub use lifecycle::{Delivery, TerminateOutcome};
pub use locks::{Holder, LockRequest, Locks};
pub use status::RuntimeStatus;
pub use time::{check_timestamp, due_later, from_timestamp, to_timestamp};
pub use turn::TurnContext;

/// Re-export of the wire types so users of this crate name one protocol version.
pub use dt_proto as proto;
