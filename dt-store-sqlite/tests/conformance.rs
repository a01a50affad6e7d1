//! The storage conformance suite against the SQLite store: one test per check, each on a
//! fresh file in a temporary directory, reading the suite's manual clock.

dt_store_conformance::conformance_tests!(|clock, config| async move {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = dt_store_sqlite::open(dir.path().join("store.db"), config, clock)
        .expect("a new store file opens");
    dt_store_conformance::Fixture::new(store).keeping(dir)
});
