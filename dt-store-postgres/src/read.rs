//! Reading the store: all of it ([`snapshot`], at start and when a server must read
//! everything again), or just the rows other servers changed since a position ([`changes`]).
//! The caller owns the transaction, so what is read is one consistent state.

use crate::write::{ACTIVITIES, CLEARED, ENTITY, INSTANCE, LOCKS, SIGNAL, Session};
use dt_store::journal::{News, Remote, RemoteInstance, RemoteRow, Snapshot, task_key};
use postgres::Client;
use std::collections::{BTreeMap, HashMap};

type Result<T> = std::result::Result<T, postgres::Error>;

/// The position the store is at.
pub(crate) fn position(s: &mut Session) -> Result<i64> {
    s.query("SELECT position FROM dt_head WHERE id = 1", &[])?
        .first()
        .map_or(Ok(0), |r| r.try_get(0))
}

/// Opens a transaction holding the store-wide write lock (the `dt_head` row) and returns
/// the position: one round trip.
pub(crate) fn begin_locked(s: &mut Session) -> Result<i64> {
    let messages = s
        .client
        .simple_query("BEGIN; SELECT position FROM dt_head WHERE id = 1 FOR UPDATE")?;
    let position = messages.iter().find_map(|m| match m {
        postgres::SimpleQueryMessage::Row(row) => row.get(0).and_then(|p| p.parse().ok()),
        _ => None,
    });
    Ok(position.unwrap_or(0))
}

/// Everything the database holds. Work some server holds stays in flight.
pub(crate) fn snapshot(client: &mut Client) -> Result<Snapshot> {
    let mut snapshot = Snapshot::default();
    let mut histories: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for row in client.query(
        "SELECT instance_id, event FROM dt_history ORDER BY instance_id, position",
        &[],
    )? {
        histories
            .entry(row.try_get(0)?)
            .or_default()
            .push(row.try_get(1)?);
    }
    for row in client.query(
        "SELECT id, record, owner IS NOT NULL FROM dt_instances",
        &[],
    )? {
        let id: String = row.try_get(0)?;
        let events = histories.remove(&id).unwrap_or_default();
        if row.try_get(2)? {
            snapshot.held_instances.insert(id);
        }
        snapshot.instances.push((row.try_get(1)?, events));
    }
    for row in client.query("SELECT id, record, owner IS NOT NULL FROM dt_entities", &[])? {
        if row.try_get(2)? {
            snapshot.held_entities.insert(row.try_get(0)?);
        }
        snapshot.entities.push(row.try_get(1)?);
    }
    for row in client.query(
        "SELECT instance_id, execution_id, task_id, record, owner IS NOT NULL
         FROM dt_activities ORDER BY seq",
        &[],
    )? {
        if row.try_get(4)? {
            let key = task_key(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            snapshot.held_activities.insert(key);
        }
        snapshot.activities.push(row.try_get(3)?);
    }
    snapshot.timers = client
        .query("SELECT record FROM dt_timers", &[])?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_>>()?;
    snapshot.signals = client
        .query("SELECT id, record FROM dt_delayed_signals ORDER BY id", &[])?
        .iter()
        .map(|r| Ok((unsigned(r.try_get(0)?), r.try_get(1)?)))
        .collect::<Result<_>>()?;
    snapshot.locks = value(client, "locks")?;
    snapshot.next_seq = next_seq(client)?;
    Ok(snapshot)
}

/// What changed after position `seen` up to `head`; everything when the store was reset or
/// the record of those changes is gone (this server fell too far behind).
pub(crate) fn changes(s: &mut Session, seen: i64, head: i64) -> Result<News> {
    if head <= seen {
        return Ok(News::Nothing);
    }
    let oldest: Option<i64> = s
        .query("SELECT min(position) FROM dt_changes", &[])?
        .first()
        .map(|r| r.try_get(0))
        .transpose()?
        .flatten();
    if oldest.is_none_or(|oldest| oldest > seen + 1) {
        return snapshot(&mut s.client).map(News::Everything);
    }
    let mut by_kind: BTreeMap<i16, Vec<String>> = BTreeMap::new();
    for row in s.query(
        "SELECT DISTINCT kind, key FROM dt_changes WHERE position > $1 AND position <= $2",
        &[&seen, &head],
    )? {
        by_kind
            .entry(row.try_get(0)?)
            .or_default()
            .push(row.try_get(1)?);
    }
    if by_kind.contains_key(&CLEARED) {
        return snapshot(&mut s.client).map(News::Everything);
    }
    let mut remote = Remote::default();
    let instances = by_kind.remove(&INSTANCE).unwrap_or_default();
    read_instances(s, &instances, &mut remote)?;
    let mut with_activities = instances;
    with_activities.extend(by_kind.remove(&ACTIVITIES).unwrap_or_default());
    with_activities.sort();
    with_activities.dedup();
    let mut activities: BTreeMap<String, Vec<(Vec<u8>, bool)>> = with_activities
        .iter()
        .map(|id| (id.clone(), Vec::new()))
        .collect();
    let rows = if with_activities.is_empty() {
        Vec::new()
    } else {
        s.query(
            "SELECT instance_id, record, owner IS NOT NULL FROM dt_activities
             WHERE instance_id = ANY($1) ORDER BY seq",
            &[&with_activities],
        )?
    };
    for row in rows {
        let id: String = row.try_get(0)?;
        activities
            .entry(id)
            .or_default()
            .push((row.try_get(1)?, row.try_get(2)?));
    }
    remote.activities = activities.into_iter().collect();
    let entities = by_kind.remove(&ENTITY).unwrap_or_default();
    let mut found: HashMap<String, (Vec<u8>, bool)> = HashMap::new();
    let rows = if entities.is_empty() {
        Vec::new()
    } else {
        s.query(
            "SELECT id, record, owner IS NOT NULL FROM dt_entities WHERE id = ANY($1)",
            &[&entities],
        )?
    };
    for row in rows {
        found.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    remote.entities = entities
        .into_iter()
        .map(|id| {
            let row = found.remove(&id);
            (id, row)
        })
        .collect();
    let signals: Vec<i64> = by_kind
        .remove(&SIGNAL)
        .unwrap_or_default()
        .iter()
        .filter_map(|k| k.parse().ok())
        .collect();
    let mut found: HashMap<i64, Vec<u8>> = HashMap::new();
    let rows = if signals.is_empty() {
        Vec::new()
    } else {
        s.query(
            "SELECT id, record FROM dt_delayed_signals WHERE id = ANY($1)",
            &[&signals],
        )?
    };
    for row in rows {
        found.insert(row.try_get(0)?, row.try_get(1)?);
    }
    remote.signals = signals
        .into_iter()
        .map(|id| (unsigned(id), found.remove(&id)))
        .collect();
    if by_kind.contains_key(&LOCKS) {
        remote.locks = value(&mut s.client, "locks")?;
    }
    remote.next_seq = next_seq(&mut s.client)?;
    Ok(News::Changes(remote))
}

/// The instances' records, histories and timers as they are now (`None` for those gone).
fn read_instances(s: &mut Session, ids: &[String], remote: &mut Remote) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut histories: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for row in s.query(
        "SELECT instance_id, event FROM dt_history WHERE instance_id = ANY($1)
         ORDER BY instance_id, position",
        &[&ids],
    )? {
        histories
            .entry(row.try_get(0)?)
            .or_default()
            .push(row.try_get(1)?);
    }
    let mut records: HashMap<String, (Vec<u8>, bool)> = HashMap::new();
    for row in s.query(
        "SELECT id, record, owner IS NOT NULL FROM dt_instances WHERE id = ANY($1)",
        &[&ids],
    )? {
        records.insert(row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?));
    }
    let mut timers: BTreeMap<String, Vec<Vec<u8>>> =
        ids.iter().map(|id| (id.clone(), Vec::new())).collect();
    for row in s.query(
        "SELECT instance_id, record FROM dt_timers WHERE instance_id = ANY($1)",
        &[&ids],
    )? {
        let id: String = row.try_get(0)?;
        timers.entry(id).or_default().push(row.try_get(1)?);
    }
    remote.timers = timers.into_iter().collect();
    remote.instances = ids
        .iter()
        .map(|id| RemoteInstance {
            id: id.clone(),
            row: records.remove(id).map(|(record, held)| RemoteRow {
                record,
                history: histories.remove(id).unwrap_or_default(),
                held,
            }),
        })
        .collect();
    Ok(())
}

fn value(client: &mut Client, key: &str) -> Result<Option<Vec<u8>>> {
    client
        .query_opt("SELECT value FROM dt_store_state WHERE key = $1", &[&key])?
        .map(|r| r.try_get(0))
        .transpose()
}

fn next_seq(client: &mut Client) -> Result<u64> {
    Ok(value(client, "next_seq")?
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_be_bytes))
}

fn unsigned(id: i64) -> u64 {
    u64::try_from(id).unwrap_or(0)
}
