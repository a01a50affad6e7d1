//! One call's changes as SQL, inside the turn's open transaction: the PostgreSQL dialect of
//! `dt-store-sqlite`'s `write.rs` (upserts with `ON CONFLICT`, `bytea` records), plus who
//! holds work in flight (`owner`) and which rows each change touched ([`Touched`]).

use dt_store::journal::{Batch, Changes, HistoryWrite, Holder, InstanceChange, Prune, TaskKey};
use postgres::types::ToSql;
use postgres::{Client, Row, Statement};
use std::collections::{BTreeSet, HashMap};

/// The writer's session with its prepared statements (prepared once per session: each
/// statement is then one round trip).
pub(crate) struct Session {
    pub(crate) client: Client,
    prepared: HashMap<&'static str, Statement>,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

impl Session {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            prepared: HashMap::new(),
        }
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        Ok(match self.prepared.get(sql) {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.client.prepare(sql)?;
                self.prepared.insert(sql, statement.clone());
                statement
            }
        })
    }

    /// Runs `sql`, preparing it the first time.
    pub(crate) fn exec(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<u64, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params)
    }

    /// Runs the query `sql`, preparing it the first time.
    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params)
    }
}

/// The rows a batch touched, by kind (see the `dt_changes` table), for the other servers to
/// read again.
#[derive(Default)]
pub(crate) struct Touched(BTreeSet<(i16, String)>);

pub(crate) const INSTANCE: i16 = 1;
pub(crate) const ACTIVITIES: i16 = 2;
pub(crate) const ENTITY: i16 = 3;
pub(crate) const SIGNAL: i16 = 4;
pub(crate) const LOCKS: i16 = 5;
pub(crate) const CLEARED: i16 = 6;

impl Touched {
    /// Everything `batch` touched.
    pub(crate) fn of(batch: &Batch) -> Self {
        let mut t = Self::default();
        for (_, c) in batch {
            if c.cleared {
                t.add(CLEARED, "");
            }
            if c.locks.is_some() {
                t.add(LOCKS, "");
            }
            for change in &c.instances {
                t.add(INSTANCE, &change.id);
            }
            for key in c.timers_added.iter().map(|(k, _)| k).chain(&c.timers_done) {
                t.add(INSTANCE, &key.instance_id);
            }
            let activities = c.activities_added.iter().map(|(k, _)| k);
            for key in activities
                .chain(&c.activities_done)
                .chain(&c.activities_claimed)
                .chain(&c.activities_released)
            {
                t.add(ACTIVITIES, &key.instance_id);
            }
            for (id, _) in &c.entities {
                t.add(ENTITY, id);
            }
            for id in c
                .signals_added
                .iter()
                .map(|(id, _)| id)
                .chain(&c.signals_done)
            {
                t.add(SIGNAL, &id.to_string());
            }
        }
        t
    }

    fn add(&mut self, kind: i16, key: &str) {
        self.0.insert((kind, key.to_owned()));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Moves the store to `position`, records them under it with the sequence counter, and
    /// announces it on `channel` (delivered at commit): one round trip.
    pub(crate) fn record(
        &self,
        s: &mut Session,
        position: i64,
        next_seq: u64,
        channel: &str,
    ) -> Result<(), postgres::Error> {
        let (kinds, keys): (Vec<i16>, Vec<&str>) =
            self.0.iter().map(|(k, key)| (*k, key.as_str())).unzip();
        let next_seq = next_seq.to_be_bytes();
        s.query(
            "WITH head AS (
                 UPDATE dt_head SET position = $1::bigint WHERE id = 1
             ), changes AS (
                 INSERT INTO dt_changes (position, kind, key)
                 SELECT $1::bigint, kind, key
                 FROM unnest($2::smallint[], $3::text[]) AS t(kind, key)
             ), counter AS (
                 INSERT INTO dt_store_state (key, value) VALUES ('next_seq', $4::bytea)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value
             )
             SELECT pg_notify($5::text, ($1::bigint)::text)",
            &[&position, &kinds, &keys, &next_seq.as_slice(), &channel],
        )?;
        Ok(())
    }
}

/// The `owner` column for a holder, and whether to keep the one recorded (another server's).
fn owner(holder: Holder, me: &str) -> (Option<&str>, bool) {
    match holder {
        Holder::Nobody => (None, false),
        Holder::Here => (Some(me), false),
        Holder::Elsewhere => (None, true),
    }
}

/// Writes `changes` made by server `me`. The caller owns the transaction.
pub(crate) fn apply(s: &mut Session, changes: &Changes, me: &str) -> Result<(), postgres::Error> {
    if changes.cleared {
        s.client.batch_execute(
            "DELETE FROM dt_instances; DELETE FROM dt_history; DELETE FROM dt_entities;
             DELETE FROM dt_activities; DELETE FROM dt_timers; DELETE FROM dt_delayed_signals;
             DELETE FROM dt_store_state WHERE key = 'locks'; DELETE FROM dt_changes;",
        )?;
    }
    // Tasks first: an instance written below may prune what it no longer needs.
    for (key, record) in &changes.activities_added {
        // A new seq on conflict too, as SQLite's INSERT OR REPLACE gives a new rowid: the
        // activity goes to the end of the scheduling order.
        s.exec(
            "INSERT INTO dt_activities (instance_id, execution_id, task_id, record)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (instance_id, execution_id, task_id)
             DO UPDATE SET record = EXCLUDED.record, seq = EXCLUDED.seq, owner = NULL",
            &[&key.instance_id, &key.execution_id, &key.task_id, record],
        )?;
    }
    for (key, record) in &changes.timers_added {
        s.exec(
            "INSERT INTO dt_timers (instance_id, execution_id, timer_id, record)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (instance_id, execution_id, timer_id)
             DO UPDATE SET record = EXCLUDED.record",
            &[&key.instance_id, &key.execution_id, &key.task_id, record],
        )?;
    }
    for change in &changes.instances {
        instance(s, change, me)?;
    }
    for (keys, holder) in [
        (&changes.activities_claimed, Some(me)),
        (&changes.activities_released, None),
    ] {
        for key in keys {
            s.exec(
                "UPDATE dt_activities SET owner = $4
                 WHERE instance_id = $1 AND execution_id = $2 AND task_id = $3",
                &[&key.instance_id, &key.execution_id, &key.task_id, &holder],
            )?;
        }
    }
    for key in &changes.activities_done {
        delete_task(
            s,
            "DELETE FROM dt_activities WHERE instance_id = $1 AND execution_id = $2 AND task_id = $3",
            key,
        )?;
    }
    for key in &changes.timers_done {
        delete_task(
            s,
            "DELETE FROM dt_timers WHERE instance_id = $1 AND execution_id = $2 AND timer_id = $3",
            key,
        )?;
    }
    for (id, record) in &changes.entities {
        match record {
            Some((record, holder)) => {
                let (owner, keep) = owner(*holder, me);
                s.exec(
                    "INSERT INTO dt_entities (id, record, owner) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record,
                     owner = CASE WHEN $4 THEN dt_entities.owner ELSE EXCLUDED.owner END",
                    &[id, record, &owner, &keep],
                )?
            }
            None => s.exec("DELETE FROM dt_entities WHERE id = $1", &[id])?,
        };
    }
    for (id, record) in &changes.signals_added {
        s.exec(
            "INSERT INTO dt_delayed_signals (id, record) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
            &[&seq(*id), record],
        )?;
    }
    for id in &changes.signals_done {
        s.exec("DELETE FROM dt_delayed_signals WHERE id = $1", &[&seq(*id)])?;
    }
    if let Some(locks) = &changes.locks {
        set_value(s, "locks", locks)?;
    }
    Ok(())
}

/// Records the sequence counter (once per transaction: the last call's is the highest).
pub(crate) fn next_seq(s: &mut Session, next_seq: u64) -> Result<(), postgres::Error> {
    set_value(s, "next_seq", &next_seq.to_be_bytes())
}

fn set_value(s: &mut Session, key: &str, value: &[u8]) -> Result<(), postgres::Error> {
    s.exec(
        "INSERT INTO dt_store_state (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&key, &value],
    )?;
    Ok(())
}

/// PostgreSQL integers are signed; sequence numbers stay far below `i64::MAX`.
fn seq(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn delete_task(s: &mut Session, sql: &'static str, key: &TaskKey) -> Result<(), postgres::Error> {
    s.exec(sql, &[&key.instance_id, &key.execution_id, &key.task_id])?;
    Ok(())
}

fn instance(s: &mut Session, change: &InstanceChange, me: &str) -> Result<(), postgres::Error> {
    let id = &change.id;
    let Some(row) = &change.row else {
        for sql in [
            "DELETE FROM dt_instances WHERE id = $1",
            "DELETE FROM dt_history WHERE instance_id = $1",
            "DELETE FROM dt_activities WHERE instance_id = $1",
            "DELETE FROM dt_timers WHERE instance_id = $1",
        ] {
            s.exec(sql, &[id])?;
        }
        return Ok(());
    };
    let (owner, keep) = owner(row.holder, me);
    let (from, events) = match &row.history {
        HistoryWrite::Append { from, events } => (*from, events),
        HistoryWrite::Replace(events) => {
            s.exec("DELETE FROM dt_history WHERE instance_id = $1", &[id])?;
            (0, events)
        }
    };
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    let prune: i16 = match row.prune {
        Prune::Nothing => 0,
        Prune::OtherExecutions => 1,
        Prune::All => 2,
    };
    // One round trip: the record, the new history rows and the pruned tasks.
    s.exec(
        "WITH record AS (
             INSERT INTO dt_instances (id, record, owner) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record,
             owner = CASE WHEN $4 THEN dt_instances.owner ELSE EXCLUDED.owner END
         ), activities AS (
             DELETE FROM dt_activities WHERE $7::smallint > 0 AND instance_id = $1
             AND ($7::smallint = 2 OR execution_id <> $8)
         ), timers AS (
             DELETE FROM dt_timers WHERE $7::smallint > 0 AND instance_id = $1
             AND ($7::smallint = 2 OR execution_id <> $8)
         )
         INSERT INTO dt_history (instance_id, position, event)
         SELECT $1, $5::bigint + n - 1, event
         FROM unnest($6::bytea[]) WITH ORDINALITY AS t(event, n)
         ON CONFLICT (instance_id, position) DO UPDATE SET event = EXCLUDED.event",
        &[
            id,
            &row.record,
            &owner,
            &keep,
            &from,
            events,
            &prune,
            &row.execution_id,
        ],
    )?;
    Ok(())
}
