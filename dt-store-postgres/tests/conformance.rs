//! The storage conformance suite against the PostgreSQL store: one test per check, each in a
//! fresh database, reading the suite's manual clock.

mod support;

dt_store_conformance::conformance_tests!(|clock, config| async move {
    let Some(db) = support::TestDb::fresh() else {
        return dt_store_conformance::Fixture::skipped();
    };
    let store = dt_store_postgres::open(db.url(), config, clock).expect("a new database opens");
    dt_store_conformance::Fixture::new(store).keeping(db)
});
