//! Reading the whole store back into a [`Snapshot`] (at start, and after a failed write), in
//! one read-only transaction.

use dt_store::journal::Snapshot;
use postgres::Client;
use std::collections::HashMap;

/// Everything the database holds.
pub(crate) fn snapshot(client: &mut Client) -> Result<Snapshot, postgres::Error> {
    let mut tx = client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let mut histories: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for row in tx.query(
        "SELECT instance_id, event FROM dt_history ORDER BY instance_id, position",
        &[],
    )? {
        histories
            .entry(row.try_get(0)?)
            .or_default()
            .push(row.try_get(1)?);
    }
    let mut instances = Vec::new();
    for row in tx.query("SELECT id, record FROM dt_instances", &[])? {
        let id: String = row.try_get(0)?;
        let events = histories.remove(&id).unwrap_or_default();
        instances.push((row.try_get(1)?, events));
    }
    let mut blobs = |sql: &str| -> Result<Vec<Vec<u8>>, postgres::Error> {
        tx.query(sql, &[])?.iter().map(|r| r.try_get(0)).collect()
    };
    let entities = blobs("SELECT record FROM dt_entities")?;
    let activities = blobs("SELECT record FROM dt_activities ORDER BY seq")?;
    let timers = blobs("SELECT record FROM dt_timers")?;
    let signals = tx
        .query("SELECT id, record FROM dt_delayed_signals ORDER BY id", &[])?
        .iter()
        .map(|r| {
            Ok((
                u64::try_from(r.try_get::<_, i64>(0)?).unwrap_or(0),
                r.try_get(1)?,
            ))
        })
        .collect::<Result<Vec<_>, postgres::Error>>()?;
    let mut value = |key: &str| -> Result<Option<Vec<u8>>, postgres::Error> {
        tx.query_opt("SELECT value FROM dt_store_state WHERE key = $1", &[&key])?
            .map(|r| r.try_get(0))
            .transpose()
    };
    let locks = value("locks")?;
    let next_seq = value("next_seq")?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes);
    tx.commit()?;
    Ok(Snapshot {
        instances,
        entities,
        locks,
        activities,
        timers,
        signals,
        next_seq,
    })
}
