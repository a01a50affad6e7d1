//! The sharing checks (contract M1–M5) against the PostgreSQL store: two servers on one fresh
//! database, registrations lasting one second so a dead server's work comes back quickly.

mod support;

use std::time::Duration;

/// How long a registration lasts without renewal here.
const SERVER_TTL: Duration = Duration::from_secs(1);

dt_store_conformance::sharing_tests!(|| {
    let db = support::TestDb::fresh();
    let url = db.as_ref().map(|db| db.url().to_owned());
    let for_open = url.clone();
    let open = move |clock, config| {
        let url = for_open.clone();
        async move {
            let Some(url) = url else {
                return dt_store_conformance::Fixture::skipped();
            };
            let options = dt_store_postgres::PgOptions {
                server_ttl: SERVER_TTL,
                ..Default::default()
            };
            let url = url.parse().expect("a test database URL");
            dt_store_conformance::Fixture::new(
                dt_store_postgres::open_with(&url, &options, config, clock)
                    .expect("the database opens"),
            )
        }
    };
    // Every registration but the oldest is removed, as the next turn would remove a lapsed one.
    let declare_dead = move || {
        if let Some(url) = &url {
            let url = url.clone();
            support::off_runtime(move || {
                support::admin(&url).and_then(|mut c| {
                    c.batch_execute(
                        "DELETE FROM dt_servers WHERE started_at >
                         (SELECT min(started_at) FROM dt_servers)",
                    )
                })
            })
            .expect("the registrations are removed");
        }
    };
    (db, open, declare_dead, SERVER_TTL * 3)
});
