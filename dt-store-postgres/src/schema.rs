//! The tables, their versions, and bringing a database up to date at start.
//!
//! Every table is named `dt_*` and lives in the first schema of the connection's
//! `search_path` (`public` unless the URL says otherwise), so a database shared with other
//! programs' tables is fine. `dt_schema` holds the version; migrations run in order in one
//! transaction, under a transaction-scoped advisory lock so that two servers starting at once
//! never migrate twice. A database from a newer server is refused rather than guessed at.

use crate::error::OpenError;
use postgres::Client;

/// The newest schema this build writes.
pub const SCHEMA_VERSION: i32 = 2;

/// Held (per transaction) while migrating.
const MIGRATION_LOCK: i64 = 0x4454_5253_0000_0002;

/// Each migration takes the schema from its index to the next version.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema. Records are `store.proto` messages (dt-store's journal).
    "
    CREATE TABLE dt_instances (
        id TEXT PRIMARY KEY,
        record BYTEA NOT NULL
    );
    -- One row per history event of each instance's current execution: a turn inserts its
    -- new events and never rewrites the others.
    CREATE TABLE dt_history (
        instance_id TEXT NOT NULL,
        position BIGINT NOT NULL,
        event BYTEA NOT NULL,
        PRIMARY KEY (instance_id, position)
    );
    CREATE TABLE dt_entities (
        id TEXT PRIMARY KEY,
        record BYTEA NOT NULL
    );
    -- Scheduled activities without an applied result; seq keeps scheduling order.
    CREATE TABLE dt_activities (
        seq BIGSERIAL PRIMARY KEY,
        instance_id TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        task_id INTEGER NOT NULL,
        record BYTEA NOT NULL,
        UNIQUE (instance_id, execution_id, task_id)
    );
    CREATE TABLE dt_timers (
        instance_id TEXT NOT NULL,
        execution_id TEXT NOT NULL,
        timer_id INTEGER NOT NULL,
        record BYTEA NOT NULL,
        PRIMARY KEY (instance_id, execution_id, timer_id)
    );
    CREATE TABLE dt_delayed_signals (
        id BIGINT PRIMARY KEY,
        record BYTEA NOT NULL
    );
    -- Single values: the lock table ('locks') and the sequence counter ('next_seq').
    CREATE TABLE dt_store_state (
        key TEXT PRIMARY KEY,
        value BYTEA NOT NULL
    );
    ",
    // 1 → 2: several servers on one database. Each records who holds work in flight
    // (`owner`: a registered server), registers itself in `dt_servers` and renews that, and
    // changes the store only while holding the `dt_head` row, whose position numbers every
    // change; `dt_changes` says which rows each position touched, so the others catch up
    // by reading just those.
    "
    ALTER TABLE dt_instances ADD COLUMN owner TEXT;
    ALTER TABLE dt_entities ADD COLUMN owner TEXT;
    ALTER TABLE dt_activities ADD COLUMN owner TEXT;
    CREATE INDEX dt_instances_owner ON dt_instances (owner) WHERE owner IS NOT NULL;
    CREATE INDEX dt_entities_owner ON dt_entities (owner) WHERE owner IS NOT NULL;
    CREATE INDEX dt_activities_owner ON dt_activities (owner) WHERE owner IS NOT NULL;
    CREATE INDEX dt_activities_instance ON dt_activities (instance_id);
    CREATE TABLE dt_servers (
        id TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        expires_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE dt_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        position BIGINT NOT NULL
    );
    INSERT INTO dt_head (id, position) VALUES (1, 0);
    -- kind: 1 instance (with its history, activities and timers), 2 an instance's
    -- activities, 3 entity, 4 delayed signal, 5 lock table, 6 everything was removed.
    CREATE TABLE dt_changes (
        position BIGINT NOT NULL,
        kind SMALLINT NOT NULL,
        key TEXT NOT NULL
    );
    CREATE INDEX dt_changes_position ON dt_changes (position);
    ",
];

/// Checks the database holds no newer schema, and migrates it to [`SCHEMA_VERSION`].
pub(crate) fn prepare(client: &mut Client, url: &str) -> Result<(), OpenError> {
    let failed = |err: postgres::Error| OpenError::Schema {
        url: url.to_owned(),
        reason: crate::connect::describe(&err),
    };
    let mut tx = client.transaction().map_err(failed)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(failed)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS dt_schema (version INTEGER NOT NULL)")
        .map_err(failed)?;
    let version: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM dt_schema", &[])
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    if version > SCHEMA_VERSION {
        return Err(OpenError::NewerSchema {
            url: url.to_owned(),
            found: version,
            known: SCHEMA_VERSION,
        });
    }
    let from = usize::try_from(version).unwrap_or(0);
    if from >= MIGRATIONS.len() {
        return Ok(());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tracing::info!(%url, to = index + 1, "migrating the store's schema");
        tx.batch_execute(sql).map_err(failed)?;
    }
    tx.execute("DELETE FROM dt_schema", &[]).map_err(failed)?;
    tx.execute(
        "INSERT INTO dt_schema (version) VALUES ($1)",
        &[&SCHEMA_VERSION],
    )
    .map_err(failed)?;
    tx.commit().map_err(failed)
}
