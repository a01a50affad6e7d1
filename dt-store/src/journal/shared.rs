//! What a store shared by several servers (PostgreSQL) supplies to the engine, and what it
//! hands back: turns, and the changes other servers made.
//!
//! Every server runs the whole engine on its own copy of the state. Changing the state takes a
//! *turn*: the storage takes a store-wide write lock, reads what other servers changed since
//! this server last looked ([`News`]), the engine applies that, runs the calls waiting for the
//! turn, and the storage writes their changes and lets the lock go. So the servers change the
//! store one at a time, each on an up-to-date copy, and every rule stays in the engine. Between
//! turns a server catches up without the lock when told (LISTEN/NOTIFY) or by polling.
//!
//! Who holds work: a record in flight names the server whose worker has it ([`Holder`]); the
//! servers renew their registration, and a server that stops renewing is declared dead by the
//! next turn that notices, whose engine then hands its work out again ([`Orphans`]).

use super::{Batch, Snapshot, TaskKey};
use crate::api::StoreResult;
use std::sync::Arc;

/// Who holds the work item an instance or entity has in flight, as the engine knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Holder {
    /// Nothing is in flight.
    #[default]
    Nobody,
    /// A worker connected to this server.
    Here,
    /// Another server's worker: the record keeps it in flight and its holder stays as it is.
    Elsewhere,
}

/// An instance another server changed: its record, history and tasks as they are now.
#[derive(Debug)]
pub struct RemoteInstance {
    /// Instance id.
    pub id: String,
    /// `None`: the instance is gone.
    pub row: Option<RemoteRow>,
}

/// An instance as stored.
#[derive(Debug)]
pub struct RemoteRow {
    /// The `StoredInstance`.
    pub record: Vec<u8>,
    /// Its history events in order.
    pub history: Vec<Vec<u8>>,
    /// Some server holds its work item in flight.
    pub held: bool,
}

/// A record and whether some server holds the work it has in flight.
pub type HeldRecord = (Vec<u8>, bool);

/// What other servers changed since this server last looked.
#[derive(Debug, Default)]
pub struct Remote {
    /// Instances written or removed.
    pub instances: Vec<RemoteInstance>,
    /// Every activity row of these instances (`StoredActivity`, and whether a server holds
    /// it), in scheduling order: they replace what this server has queued for the instance.
    pub activities: Vec<(String, Vec<HeldRecord>)>,
    /// Every timer row of these instances (`StoredTimer`): they replace this server's.
    pub timers: Vec<(String, Vec<Vec<u8>>)>,
    /// Entities written (record, and whether a server holds its batch) or removed.
    pub entities: Vec<(String, Option<HeldRecord>)>,
    /// Delayed entity operations written or removed, by id.
    pub signals: Vec<(u64, Option<Vec<u8>>)>,
    /// The lock table, when it changed.
    pub locks: Option<Vec<u8>>,
    /// The sequence counter as stored.
    pub next_seq: u64,
}

/// What a turn or a catch-up found.
#[derive(Debug, Default)]
pub enum News {
    /// Nothing changed.
    #[default]
    Nothing,
    /// Some rows changed.
    Changes(Remote),
    /// Everything must be read again (a reset, a server that fell too far behind, or one
    /// that was declared dead and has registered again).
    Everything(Snapshot),
}

/// Work held by servers that were declared dead, to be dispatched again.
#[derive(Debug, Default)]
pub struct Orphans {
    /// Instances with a work item in flight.
    pub instances: Vec<String>,
    /// Entities with a batch in flight.
    pub entities: Vec<String>,
    /// Activities (`StoredActivity`).
    pub activities: Vec<Vec<u8>>,
}

impl Orphans {
    /// Whether there is nothing to give back.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty() && self.entities.is_empty() && self.activities.is_empty()
    }
}

/// An open turn: the store-wide write lock is held.
#[derive(Debug, Default)]
pub struct Turn {
    /// What changed since the position the turn was asked from.
    pub news: News,
    /// Where the store is now.
    pub position: u64,
    /// Work of dead servers.
    pub orphans: Orphans,
}

/// Where the engine's shared state lives. Called from one thread, the engine's driver.
pub trait SharedStorage: Send + 'static {
    /// Opens a turn: a transaction holding the store-wide write lock, with what changed since
    /// `seen` (everything when `everything`).
    fn begin(&mut self, seen: u64, everything: bool) -> Result<Turn, String>;
    /// Writes the batch and ends the turn; returns the new position. On an error the turn is
    /// over and nothing of it is kept.
    fn commit(&mut self, batch: &Batch) -> Result<u64, String>;
    /// Outside a turn, without the lock: what changed since `seen`, and the position, or
    /// `None` when nothing did.
    fn catch_up(&mut self, seen: u64) -> Result<Option<(News, u64)>, String>;
    /// Everything, with its position (at start).
    fn load(&mut self) -> StoreResult<(Snapshot, u64)>;
    /// Calls `wake` whenever another server may have changed something, with the position
    /// the store reached (`u64::MAX` when unknown: after a reconnection); the engine then
    /// catches up unless it is there already (its own commits are announced too).
    fn subscribe(&mut self, wake: Arc<dyn Fn(u64) + Send + Sync>);
    /// The longest the engine goes without a turn (its fallback for lost notifications; a
    /// storage that renews registrations in turns needs them often enough).
    fn poll_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    /// The driver is stopping: unregister, so others hand this server's work out at once.
    fn close(&mut self) {}
}

/// A [`TaskKey`] for an activity or timer record; used by storages to name rows.
pub fn task_key(instance_id: &str, execution_id: &str, task_id: i32) -> TaskKey {
    TaskKey {
        instance_id: instance_id.to_owned(),
        execution_id: execution_id.to_owned(),
        task_id,
    }
}
