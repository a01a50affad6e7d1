//! The storage conformance suite against the in-memory store: one test per check, each on a
//! fresh store reading the suite's manual clock.

use dt_store::MemoryStore;

dt_store_conformance::conformance_tests!(|clock, config| async move {
    MemoryStore::with_clock(config, clock)
});
