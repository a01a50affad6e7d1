//! Work given back by workers: how many times in a row each item was abandoned (for the
//! back-off) and which worker last gave each orchestration back (it gets the item again only if
//! no other connected worker would take it).

use crate::api::{StoreConfig, WorkerId};
use dt_core::ExecutionId;
use std::collections::HashMap;

/// What a run of abandons is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum AbandonKey {
    Orchestration(String),
    Activity(String, ExecutionId, i32),
    Entity(String),
}

#[derive(Default)]
pub(crate) struct Abandons {
    in_a_row: HashMap<AbandonKey, u32>,
    last_by: HashMap<String, WorkerId>,
}

impl Abandons {
    /// Counts one more abandon of the item and returns how long it waits before its next try:
    /// the abandon delay, doubled for each abandon in a row before this one, capped.
    pub(crate) fn delay(&mut self, key: AbandonKey, config: &StoreConfig) -> chrono::Duration {
        let count = self.in_a_row.entry(key).or_insert(0);
        let exponent = (*count).min(16);
        *count = count.saturating_add(1);
        let delay = config
            .abandon_delay
            .saturating_mul(1 << exponent)
            .min(config.max_abandon_delay.max(config.abandon_delay));
        chrono::Duration::from_std(delay).unwrap_or_default()
    }

    /// Records who gave an orchestration back.
    pub(crate) fn given_back_by(&mut self, instance: &str, worker: WorkerId) {
        self.last_by.insert(instance.to_owned(), worker);
    }

    /// Whether `worker` was the last to give the orchestration back.
    pub(crate) fn gave_back(&self, instance: &str, worker: WorkerId) -> bool {
        self.last_by.get(instance) == Some(&worker)
    }

    /// Whether any orchestration waits to be offered to another worker first.
    pub(crate) fn any_given_back(&self) -> bool {
        !self.last_by.is_empty()
    }

    /// The item was completed: its next abandon starts the back-off afresh.
    pub(crate) fn succeeded(&mut self, key: &AbandonKey) {
        self.in_a_row.remove(key);
    }

    /// Forgets everything about an instance's orchestration work (its execution ended or was
    /// replaced).
    pub(crate) fn forget_instance(&mut self, instance: &str) {
        self.last_by.remove(instance);
        self.in_a_row
            .remove(&AbandonKey::Orchestration(instance.to_owned()));
    }
}
