//! Storage for the Durable Task sidecar: the [`Store`] trait with its contract, the
//! in-memory implementation, and the scheduler loop that drives a store's timeline.
//!
//! dt-grpc talks only to `dyn Store`; a SQLite or PostgreSQL store implements the same trait
//! and proves it with the conformance suite (crate `dt-store-conformance`).

mod api;
mod clock;
mod error;
pub mod journal;
mod memory;
mod observed;
mod requests;
mod scheduler;
mod skipping;
mod stats;
mod virtual_clock;
mod work_item;

pub use api::*;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{StoreError, clip};
pub use memory::{MemoryStore, StartingShared};
pub use observed::{Change, ObservedStore, WorkCounts};
pub use requests::check_new_instance;
pub use scheduler::run_scheduler;
pub use skipping::{Blocker, BlockerKind, SkipView};
pub use stats::{PerKind, STATUSES, StoreStats, WorkKind};
pub use virtual_clock::VirtualClock;
pub use work_item::WireWorkItem;
