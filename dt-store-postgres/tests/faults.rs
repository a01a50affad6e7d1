//! Bad addresses, busy and foreign databases, lost sessions and stuck statements: each is a
//! clear error at start, or `Unavailable` on the call whose change could not be written, never
//! a hang, a panic or a half-kept change.

mod support;

use dt_store::{CreateInstance, ManualClock, MemoryStore, Store, StoreConfig, StoreError};
use dt_store_postgres::{OpenError, PgOptions, open, open_with};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::TestDb;

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(chrono::Utc::now()))
}

fn open_at(url: &str) -> Result<MemoryStore, OpenError> {
    open(url, StoreConfig::default(), clock())
}

fn instance(id: &str) -> CreateInstance {
    CreateInstance {
        spec: dt_core::NewInstance {
            id: id.to_owned(),
            name: "Kept".to_owned(),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn exists(store: &MemoryStore, id: &str) -> bool {
    store
        .get_instance(id, false)
        .await
        .expect("reads are served from memory")
        .is_some()
}

/// A URL for `user` (and password, as `user:password`) and `database` on the test server's
/// host and port.
fn base_with(user: &str, database: &str) -> String {
    let base = support::base_url();
    let after_scheme = base.find("://").map_or(0, |at| at + 3);
    let authority_end = base[after_scheme..]
        .find(['/', '?'])
        .map_or(base.len(), |at| after_scheme + at);
    let host = base[after_scheme..authority_end]
        .rsplit_once('@')
        .map_or(&base[after_scheme..authority_end], |(_, host)| host);
    format!("postgres://{user}@{host}/{database}")
}

#[test]
fn a_database_from_a_newer_server_is_refused() {
    let Some(db) = TestDb::fresh() else { return };
    drop(open_at(db.url()).expect("a new database"));
    db.execute("UPDATE dt_schema SET version = 99")
        .expect("mark it newer");
    match open_at(db.url()) {
        Err(OpenError::NewerSchema {
            found: 99, known, ..
        }) => assert_eq!(known, dt_store_postgres::SCHEMA_VERSION),
        other => panic!("a database with schema 99: {other:?}"),
    }
}

/// A database written by the one-server version (schema 1: no owners, no registrations, no
/// record of changes) is brought up to schema 2 at start, keeping what it holds.
#[tokio::test]
async fn a_version_1_database_is_migrated_keeping_its_instances() {
    let Some(db) = TestDb::fresh() else { return };
    let store = open_at(db.url()).expect("a new database");
    store
        .create_instance(instance("from-v1"))
        .await
        .expect("create");
    drop(store);
    // What schema 1 had: the same tables and records, without what version 2 added.
    db.execute(
        "ALTER TABLE dt_instances DROP COLUMN owner; ALTER TABLE dt_entities DROP COLUMN owner;
         ALTER TABLE dt_activities DROP COLUMN owner; DROP INDEX dt_activities_instance;
         DROP TABLE dt_servers, dt_head, dt_changes; UPDATE dt_schema SET version = 1",
    )
    .expect("the database is made a version 1 one");
    let store = open_at(db.url()).expect("a version 1 database opens");
    assert!(exists(&store, "from-v1").await, "its instance is kept");
    store
        .create_instance(instance("after"))
        .await
        .expect("and it takes changes");
    drop(store);
    let version = db.schema_version();
    assert_eq!(version, dt_store_postgres::SCHEMA_VERSION);
}

#[tokio::test]
async fn a_database_shared_with_other_tables_is_fine() {
    let Some(db) = TestDb::fresh() else { return };
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES (7)")
        .expect("another program's table");
    let store = open_at(db.url()).expect("opens beside another program's table");
    store.create_instance(instance("a")).await.expect("create");
    drop(store);
    let store = open_at(db.url()).expect("opens again");
    assert!(exists(&store, "a").await, "the instance was kept");
    drop(store);
    db.execute("SELECT 1 / (count(*) = 1)::int FROM invoices WHERE id = 7")
        .expect("the other table is untouched");
}

#[test]
fn nothing_listening_is_a_clear_error_at_start() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let result = open_at(&format!("postgres://dt:hunter2@127.0.0.1:{port}/dt"));
    let message = result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(
        matches!(result, Err(OpenError::Connect { .. })),
        "no server on port {port}: {result:?}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && !message.contains("hunter2"),
        "the error names the address, not the password: {message}"
    );
}

#[test]
fn a_server_that_never_answers_is_an_error_not_a_hang() {
    // Accepts connections and says nothing, as a wrong port (an HTTP server) may.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let options = PgOptions {
        connect_timeout: Duration::from_millis(300),
        ..PgOptions::default()
    };
    let url = format!("postgres://dt@127.0.0.1:{port}/dt")
        .parse()
        .expect("a URL");
    let result = open_with(&url, &options, StoreConfig::default(), clock());
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("no answer"), "a silent server: {message}");
}

#[test]
fn a_missing_database_or_unknown_user_is_a_clear_error() {
    if !support::available() {
        return;
    }
    let missing = base_with("postgres", "dt_no_such_database");
    let message = open_at(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("dt_no_such_database") && message.contains("does not exist"),
        "a missing database: {message}"
    );
    let stranger = base_with("dt_nobody:topsecret", "test");
    let message = open_at(&stranger)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("dt_nobody") && !message.contains("topsecret"),
        "an unknown user, password hidden: {message}"
    );
}

#[test]
fn a_url_that_is_not_postgres_is_refused() {
    for bad in ["mysql://x@y/z", "postgres://u:pw@db:notaport/x"] {
        let result = open_at(bad);
        assert!(
            matches!(result, Err(OpenError::Url(_))),
            "{bad}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_lost_session_fails_the_write_then_reconnects_keeping_what_was_acknowledged() {
    let Some(db) = TestDb::fresh() else { return };
    let store = open_at(db.url()).expect("opens");
    store
        .create_instance(instance("before"))
        .await
        .expect("create");
    let pid = db.server_pid().expect("the driver session is there");
    db.terminate(pid);

    let lost = store.create_instance(instance("lost")).await;
    assert!(
        matches!(lost, Err(StoreError::Unavailable(_))),
        "a write on a terminated session: {lost:?}"
    );
    // The next calls read the store back, reconnecting; wait for it with a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut attempt = 0;
    let after = loop {
        attempt += 1;
        let id = format!("after-{attempt}");
        match store.create_instance(instance(&id)).await {
            Ok(_) => break id,
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("the store did not come back: {err:?}"),
        }
    };
    let new_pid = db.server_pid().expect("a new driver session is there");
    assert_ne!(new_pid, pid, "a new session");
    assert!(
        exists(&store, "before").await,
        "acknowledged before the loss"
    );
    assert!(
        !exists(&store, "lost").await,
        "the failed write was not kept"
    );
    assert!(
        exists(&store, &after).await,
        "acknowledged after reconnecting"
    );

    drop(store);
    let store = open_at(db.url()).expect("opens again");
    assert!(exists(&store, "before").await && exists(&store, &after).await);
    assert!(!exists(&store, "lost").await);
}

#[tokio::test]
async fn a_stuck_statement_times_out_as_unavailable() {
    let Some(db) = TestDb::fresh() else { return };
    let options = PgOptions {
        statement_timeout: Duration::from_millis(500),
        ..PgOptions::default()
    };
    let url = db.url().parse().expect("a URL");
    let store = open_with(&url, &options, StoreConfig::default(), clock()).expect("opens");
    store
        .create_instance(instance("before"))
        .await
        .expect("create");

    // Another session holds the instances table until told to let go.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (locked, is_locked) = std::sync::mpsc::channel::<()>();
    let holder_url = db.url().to_owned();
    let holder = std::thread::spawn(move || {
        let mut client = support::admin(&holder_url).expect("connect");
        let mut tx = client.transaction().expect("begin");
        tx.batch_execute("LOCK TABLE dt_instances IN ACCESS EXCLUSIVE MODE")
            .expect("lock");
        let _ = locked.send(());
        let _ = released.recv();
        tx.rollback().expect("rollback");
    });
    is_locked.recv().expect("the table is locked");
    let stuck = store.create_instance(instance("stuck")).await;
    assert!(
        matches!(stuck, Err(StoreError::Unavailable(_))),
        "a write behind a held lock: {stuck:?}"
    );
    let _ = release.send(());
    holder.join().expect("the holder let go");

    store
        .create_instance(instance("after"))
        .await
        .expect("the store carries on once the lock is gone");
    assert!(exists(&store, "before").await && exists(&store, "after").await);
    assert!(!exists(&store, "stuck").await);
}

/// Creates `id` through `store`, retrying while the store is unavailable (it reconnects),
/// within a deadline.
async fn create_when_back(store: &MemoryStore, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match store.create_instance(instance(id)).await {
            Ok(_) => return,
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("the store did not come back: {err:?}"),
        }
    }
}

/// Every session of two servers sharing the database ends at once (as in a database restart):
/// both reconnect, each sees what the other acknowledged before and after, and a waiter on
/// one server still wakes for a change made through the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_sharing_a_database_carry_on_after_every_session_ends() {
    let Some(db) = TestDb::fresh() else { return };
    let a = open_at(db.url()).expect("the first server opens");
    let b = open_at(db.url()).expect("the second server opens");
    a.create_instance(instance("before")).await.expect("create");
    db.terminate_all();
    create_when_back(&a, "after-a").await;
    create_when_back(&b, "after-b").await;
    for store in [&a, &b] {
        for id in ["before", "after-a", "after-b"] {
            assert!(
                exists(store, id).await,
                "{id} is read through either server"
            );
        }
    }
    let wait = b.wait_for_instance("after-a", dt_store::WaitCondition::Completed, false);
    let terminate = async {
        a.terminate_instance("after-a", None, false)
            .await
            .expect("terminate through the first server");
    };
    let (waited, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(10), wait),
        terminate
    );
    let state = waited
        .expect("the waiter on the second server wakes")
        .expect("wait_for_instance");
    assert_eq!(state.instance_id, "after-a");
}

/// Takes the next work item through `store`'s worker, decoded as it goes on the wire.
async fn next_item(store: &MemoryStore, worker: dt_store::WorkerId) -> dt_proto::WorkItem {
    let item = tokio::time::timeout(Duration::from_secs(10), store.next_work_item(worker))
        .await
        .expect("a work item within 10 s")
        .expect("next_work_item");
    item.into_proto()
}

/// A server that has to read the whole store (the record of recent changes no longer reaches
/// back to its position) drops its leases: it registers anew, and what its worker held is
/// handed out again by the other server instead of staying held by a live server for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_reads_everything_again_lets_go_of_what_it_held() {
    use dt_proto::orchestrator_action::OrchestratorActionType;
    use dt_proto::work_item::Request;
    let Some(db) = TestDb::fresh() else { return };
    let options = PgOptions {
        server_ttl: Duration::from_secs(1),
        ..PgOptions::default()
    };
    let url = db.url().parse().expect("a test database URL");
    let open = || open_with(&url, &options, StoreConfig::default(), clock()).expect("opens");
    let (a, b) = (open(), open());
    let all = || dt_store::WorkerOptions::from(dt_core::WorkFilters::all());
    let (wa, wb) = (
        a.connect_worker(all()).await.expect("connect"),
        b.connect_worker(all()).await.expect("connect"),
    );
    a.create_instance(instance("held")).await.expect("create");
    let first = next_item(&a, wa).await;
    assert!(matches!(
        first.request,
        Some(Request::OrchestratorRequest(_))
    ));
    let schedule = dt_proto::OrchestratorAction {
        id: 1,
        orchestrator_action_type: Some(OrchestratorActionType::ScheduleTask(
            dt_proto::ScheduleTaskAction {
                name: "Step".to_owned(),
                ..Default::default()
            },
        )),
    };
    a.complete_orchestration(dt_proto::OrchestratorResponse {
        instance_id: "held".to_owned(),
        completion_token: first.completion_token,
        actions: vec![schedule],
        ..Default::default()
    })
    .await
    .expect("the first turn");
    let held = next_item(&b, wb).await;
    assert!(
        matches!(held.request, Some(Request::ActivityRequest(_))),
        "the second server's worker holds the activity"
    );
    // As if many turns had passed and their record was pruned: the second server must read
    // everything again.
    db.execute(
        "BEGIN; DELETE FROM dt_changes; UPDATE dt_head SET position = position + 10; COMMIT",
    )
    .expect("the record is pruned");
    let again = next_item(&a, wa).await;
    assert!(
        matches!(again.request, Some(Request::ActivityRequest(_))),
        "the activity is handed out again through the first server"
    );
    assert_ne!(again.completion_token, held.completion_token);
}
