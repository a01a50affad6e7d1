//! Reading the whole store back into a [`Snapshot`] (at start, and after a failed write).

use dt_store::journal::Snapshot;
use rusqlite::Connection;

/// Everything the file holds.
pub(crate) fn snapshot(conn: &Connection) -> rusqlite::Result<Snapshot> {
    let mut history =
        conn.prepare_cached("SELECT event FROM history WHERE instance_id = ?1 ORDER BY position")?;
    let mut instances = Vec::new();
    let mut rows = conn.prepare("SELECT id, record FROM instances")?;
    let mut found = rows.query([])?;
    while let Some(row) = found.next()? {
        let id: String = row.get(0)?;
        let record: Vec<u8> = row.get(1)?;
        let events = history
            .query_map([&id], |r| r.get::<_, Vec<u8>>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        instances.push((record, events));
    }
    let blobs = |sql: &str| -> rusqlite::Result<Vec<Vec<u8>>> {
        conn.prepare(sql)?
            .query_map([], |r| r.get::<_, Vec<u8>>(0))?
            .collect()
    };
    let signals = conn
        .prepare("SELECT id, record FROM delayed_signals ORDER BY id")?
        .query_map([], |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                r.get::<_, Vec<u8>>(1)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let value = |key: &str| -> rusqlite::Result<Option<Vec<u8>>> {
        let mut stmt = conn.prepare("SELECT value FROM store_state WHERE key = ?1")?;
        let mut rows = stmt.query([key])?;
        rows.next()?.map(|r| r.get(0)).transpose()
    };
    let next_seq = value("next_seq")?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes);
    Ok(Snapshot {
        instances,
        entities: blobs("SELECT record FROM entities")?,
        locks: value("locks")?,
        activities: blobs("SELECT record FROM activities ORDER BY seq")?,
        timers: blobs("SELECT record FROM timers")?,
        signals,
        next_seq,
        ..Snapshot::default()
    })
}
