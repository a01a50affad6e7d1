//! The storage conformance suite against the in-memory store wrapped in `ObservedStore`: the
//! wrapper must forward every call without changing what it does.

use dt_store::{MemoryStore, ObservedStore};
use std::sync::Arc;

dt_store_conformance::conformance_tests!(|clock, config| async move {
    ObservedStore::new(Arc::new(MemoryStore::with_clock(config, clock)))
});
