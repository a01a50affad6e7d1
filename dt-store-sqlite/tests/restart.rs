//! The restart checks (contract D1–D3) against the SQLite store: each on a fresh file,
//! closed and opened again where a server would be killed and started.

dt_store_conformance::restart_tests!(|| {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("store.db");
    let open = move |clock, config| {
        let path = path.clone();
        async move { dt_store_sqlite::open(&path, config, clock).expect("the store file opens") }
    };
    (dir, open)
});
