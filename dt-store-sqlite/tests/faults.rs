//! Bad files and failing disks: each is a clear error at start, or `Unavailable` on the call
//! whose change could not be written, never a panic or a half-kept change.

use dt_store::{CreateInstance, ManualClock, Store, StoreConfig, StoreError};
use dt_store_sqlite::{OpenError, SqliteOptions, open, open_with};
use std::path::Path;
use std::sync::Arc;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(chrono::Utc::now()))
}

fn open_at(path: &Path) -> Result<dt_store::MemoryStore, OpenError> {
    open(path, StoreConfig::default(), clock())
}

fn instance(id: &str, input_bytes: usize) -> CreateInstance {
    CreateInstance {
        spec: dt_core::NewInstance {
            id: id.to_owned(),
            name: "Big".to_owned(),
            input: Some("x".repeat(input_bytes)),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn a_second_server_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let first = open_at(&path).expect("the first open succeeds");
    let second = open_at(&path);
    assert!(
        matches!(second, Err(OpenError::InUse { .. })),
        "a second open while the first is open: {second:?}"
    );
    let message = second.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("in use"), "the error says why: {message}");
    drop(first);
    open_at(&path).expect("the file opens again once the first store is closed");
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a_u8; 8192]).expect("write");
    let result = open_at(&garbage);
    assert!(
        matches!(result, Err(OpenError::NotAStore { .. })),
        "a file of garbage: {result:?}"
    );

    let other = dir.path().join("other.db");
    rusqlite::Connection::open(&other)
        .and_then(|c| c.execute_batch("CREATE TABLE invoices (id INTEGER PRIMARY KEY);"))
        .expect("another program's database");
    let result = open_at(&other);
    assert!(
        matches!(result, Err(OpenError::NotAStore { .. })),
        "another program's SQLite database: {result:?}"
    );
}

#[test]
fn a_store_from_a_newer_server_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    drop(open_at(&path).expect("a new store"));
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch("PRAGMA user_version = 99;"))
        .expect("mark it newer");
    match open_at(&path) {
        Err(OpenError::NewerSchema {
            found: 99, known, ..
        }) => {
            assert_eq!(known, dt_store_sqlite::SCHEMA_VERSION)
        }
        other => panic!("a store with schema 99: {other:?}"),
    }
}

#[test]
fn a_path_that_cannot_be_created_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no-such-directory").join("store.db");
    let result = open_at(&path);
    let message = result
        .as_ref()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        matches!(result, Err(OpenError::Open { .. })) && message.contains("no-such-directory"),
        "a path under a missing directory: {message}"
    );
    // A directory where the file should be.
    let result = open_at(dir.path());
    assert!(result.is_err(), "a directory is not a store file");
}

#[tokio::test]
async fn a_full_disk_fails_the_call_and_keeps_only_what_was_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.db");
    let small = SqliteOptions {
        size_limit_bytes: Some(256 * 1024),
        ..Default::default()
    };
    let store = open_with(&path, &small, StoreConfig::default(), clock()).expect("opens");
    let mut acknowledged = Vec::new();
    let mut refused = None;
    for n in 0..1000 {
        let id = format!("i{n}");
        match store.create_instance(instance(&id, 8 * 1024)).await {
            Ok(_) => acknowledged.push(id),
            Err(err) => {
                refused = Some((id, err));
                break;
            }
        }
    }
    let Some((refused_id, err)) = refused else {
        panic!("a 256 KiB store took 1000 instances of 8 KiB");
    };
    assert!(
        matches!(err, StoreError::Unavailable(_)),
        "a write past the size limit is Unavailable: {err:?}"
    );
    // The store reads itself back and goes on serving what it kept.
    assert!(
        store
            .get_instance(&refused_id, false)
            .await
            .expect("reads work after a failed write")
            .is_none(),
        "the refused instance {refused_id} was not kept ({err:?})"
    );
    let last = acknowledged.last().expect("some instances fit");
    assert!(
        store
            .get_instance(last, false)
            .await
            .expect("read")
            .is_some(),
        "acknowledged instances stay"
    );
    drop(store);
    let store = open_at(&path).expect("reopens without a limit");
    let query = dt_proto::InstanceQuery {
        max_instance_count: 10_000,
        ..Default::default()
    };
    let page = store.query_instances(query).await.expect("query");
    let mut kept: Vec<String> = page.items.iter().map(|s| s.instance_id.clone()).collect();
    kept.sort();
    acknowledged.sort();
    assert_eq!(
        kept, acknowledged,
        "exactly the acknowledged instances were kept"
    );
}
