//! The restart checks (contract D1–D3) against the PostgreSQL store: each in a fresh database,
//! the store closed and opened again where a server would be killed and started.

mod support;

dt_store_conformance::restart_tests!(|| {
    let db = support::TestDb::fresh();
    let url = db.as_ref().map(|db| db.url().to_owned());
    let open = move |clock, config| {
        let url = url.clone();
        async move {
            match url {
                Some(url) => dt_store_conformance::Fixture::new(
                    dt_store_postgres::open(&url, config, clock).expect("the database opens"),
                ),
                None => dt_store_conformance::Fixture::skipped(),
            }
        }
    };
    (db, open)
});
