//! One call's changes as SQL, inside the writer's open transaction.

use dt_store::journal::{Changes, HistoryWrite, InstanceChange, Prune, TaskKey};
use rusqlite::{Connection, params};

/// Writes `changes`. The caller owns the transaction.
pub(crate) fn apply(conn: &Connection, changes: &Changes) -> rusqlite::Result<()> {
    if changes.cleared {
        conn.execute_batch(
            "DELETE FROM instances; DELETE FROM history; DELETE FROM entities;
             DELETE FROM activities; DELETE FROM timers; DELETE FROM delayed_signals;
             DELETE FROM store_state WHERE key = 'locks';",
        )?;
    }
    // Tasks first: an instance written below may prune what it no longer needs.
    for (key, record) in &changes.activities_added {
        insert_task(conn, "activities", "task_id", key, record)?;
    }
    for (key, record) in &changes.timers_added {
        insert_task(conn, "timers", "timer_id", key, record)?;
    }
    for change in &changes.instances {
        instance(conn, change)?;
    }
    for key in &changes.activities_done {
        delete_task(conn, "activities", "task_id", key)?;
    }
    for key in &changes.timers_done {
        delete_task(conn, "timers", "timer_id", key)?;
    }
    for (id, record) in &changes.entities {
        match record {
            // One server per file: who holds a batch need not be recorded.
            Some((record, _holder)) => conn
                .prepare_cached("INSERT OR REPLACE INTO entities (id, record) VALUES (?1, ?2)")?
                .execute(params![id, record])?,
            None => conn
                .prepare_cached("DELETE FROM entities WHERE id = ?1")?
                .execute(params![id])?,
        };
    }
    for (id, record) in &changes.signals_added {
        conn.prepare_cached("INSERT OR REPLACE INTO delayed_signals (id, record) VALUES (?1, ?2)")?
            .execute(params![seq(*id), record])?;
    }
    for id in &changes.signals_done {
        conn.prepare_cached("DELETE FROM delayed_signals WHERE id = ?1")?
            .execute(params![seq(*id)])?;
    }
    if let Some(locks) = &changes.locks {
        set_value(conn, "locks", locks)?;
    }
    Ok(())
}

/// Records the sequence counter (once per transaction: the last call's is the highest).
pub(crate) fn next_seq(conn: &Connection, next_seq: u64) -> rusqlite::Result<()> {
    set_value(conn, "next_seq", &next_seq.to_be_bytes())
}

fn set_value(conn: &Connection, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR REPLACE INTO store_state (key, value) VALUES (?1, ?2)")?
        .execute(params![key, value])?;
    Ok(())
}

/// SQLite integers are signed; sequence numbers stay far below `i64::MAX`.
fn seq(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn insert_task(
    conn: &Connection,
    table: &str,
    id: &str,
    key: &TaskKey,
    record: &[u8],
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {table} (instance_id, execution_id, {id}, record)
         VALUES (?1, ?2, ?3, ?4)"
    ))?
    .execute(params![
        key.instance_id,
        key.execution_id,
        key.task_id,
        record
    ])?;
    Ok(())
}

fn delete_task(conn: &Connection, table: &str, id: &str, key: &TaskKey) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "DELETE FROM {table} WHERE instance_id = ?1 AND execution_id = ?2 AND {id} = ?3"
    ))?
    .execute(params![key.instance_id, key.execution_id, key.task_id])?;
    Ok(())
}

fn instance(conn: &Connection, change: &InstanceChange) -> rusqlite::Result<()> {
    let id = &change.id;
    let Some(row) = &change.row else {
        for sql in [
            "DELETE FROM instances WHERE id = ?1",
            "DELETE FROM history WHERE instance_id = ?1",
            "DELETE FROM activities WHERE instance_id = ?1",
            "DELETE FROM timers WHERE instance_id = ?1",
        ] {
            conn.prepare_cached(sql)?.execute(params![id])?;
        }
        return Ok(());
    };
    conn.prepare_cached("INSERT OR REPLACE INTO instances (id, record) VALUES (?1, ?2)")?
        .execute(params![id, row.record])?;
    let (from, events) = match &row.history {
        HistoryWrite::Append { from, events } => (*from, events),
        HistoryWrite::Replace(events) => {
            conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?
                .execute(params![id])?;
            (0, events)
        }
    };
    let mut insert = conn.prepare_cached(
        "INSERT OR REPLACE INTO history (instance_id, position, event) VALUES (?1, ?2, ?3)",
    )?;
    for (offset, event) in events.iter().enumerate() {
        let position = i64::try_from(from + offset).unwrap_or(i64::MAX);
        insert.execute(params![id, position, event])?;
    }
    let prune = match row.prune {
        Prune::Nothing => return Ok(()),
        Prune::OtherExecutions => "AND execution_id <> ?2",
        Prune::All => "AND ?2 IS NOT NULL",
    };
    for table in ["activities", "timers"] {
        conn.prepare_cached(&format!(
            "DELETE FROM {table} WHERE instance_id = ?1 {prune}"
        ))?
        .execute(params![id, row.execution_id])?;
    }
    Ok(())
}
