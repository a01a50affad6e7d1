//! The storage conformance suite against the in-memory store: one test per check (generated
//! from the suite's own list), so a failure names the check.

use dt_store::{MemoryStore, StoreConfig};
use std::time::Duration;

/// The configuration the suite expects: short leases and abandon delays on the system clock.
fn store() -> MemoryStore {
    MemoryStore::new(StoreConfig {
        lease_duration: Duration::from_millis(200),
        abandon_delay: Duration::from_millis(50),
        ..Default::default()
    })
}

dt_store::conformance_tests!(store());
