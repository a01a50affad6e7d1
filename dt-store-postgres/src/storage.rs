//! The PostgreSQL side of a shared store's turns (dt-store's `SharedStorage`): the driver's
//! session, the store-wide write lock (the `dt_head` row, held for the turn's transaction),
//! reading what other servers changed, writing a turn's changes with the position they get,
//! this server's registration, and the listener that wakes the engine.
//!
//! A lost session is opened again at the next turn, at most once per back-off step of the
//! engine's driver, so calls during an outage fail fast with `Unavailable`.

use crate::listen::{CHANNEL, Listener};
use crate::write::{self, Session, Touched};
use crate::{PgOptions, PgUrl, connect, read, registry};
use dt_store::journal::{Batch, News, Orphans, SharedStorage, Snapshot, Turn};
use dt_store::{StoreError, StoreResult};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a turn looks for work of dead servers.
const SWEEP_EVERY: Duration = Duration::from_millis(500);
/// The record of which rows each position changed is kept for this many positions; a server
/// further behind reads everything again.
const CHANGES_KEPT: i64 = 100_000;

pub(crate) struct PgShared {
    /// `None` once the session is lost, until the next turn opens a new one.
    session: Option<Session>,
    url: PgUrl,
    options: PgOptions,
    /// This server's registration.
    name: String,
    renewed_at: Instant,
    swept_at: Instant,
    /// The position when the open turn began.
    head: i64,
    listener: Option<Listener>,
}

impl PgShared {
    /// A registered server on a prepared session.
    pub(crate) fn new(
        client: postgres::Client,
        url: PgUrl,
        options: PgOptions,
    ) -> Result<Self, String> {
        let mut session = Session::new(client);
        let name = registry::new_name();
        registry::register(&mut session, &name, options.server_ttl)
            .map_err(|e| connect::describe(&e))?;
        tracing::info!(server = name, %url, "registered with the shared store");
        Ok(Self {
            session: Some(session),
            url,
            options,
            name,
            renewed_at: Instant::now(),
            swept_at: Instant::now() - SWEEP_EVERY,
            head: 0,
            listener: None,
        })
    }

    /// Runs `f` on the session (opening one first if it was lost). After an error the open
    /// transaction is rolled back; a session that cannot do that is dropped.
    fn with_session<T>(
        &mut self,
        f: impl FnOnce(&mut Self, &mut Session) -> Result<T, postgres::Error>,
    ) -> Result<T, String> {
        let mut s = match self.session.take() {
            Some(s) => s,
            None => {
                let client =
                    connect::open_bounded(&self.url, &self.options).map_err(|e| e.to_string())?;
                tracing::info!(url = %self.url, "reconnected to PostgreSQL");
                Session::new(client)
            }
        };
        match f(self, &mut s) {
            Ok(value) => {
                self.session = Some(s);
                Ok(value)
            }
            Err(err) => {
                let lost = err.is_closed()
                    || s.client.is_closed()
                    || s.client.batch_execute("ROLLBACK").is_err();
                if lost {
                    tracing::warn!(url = %self.url, "the session to PostgreSQL is lost");
                } else {
                    self.session = Some(s);
                }
                Err(connect::describe(&err))
            }
        }
    }

    fn open_turn(
        &mut self,
        s: &mut Session,
        seen: u64,
        everything: bool,
    ) -> Result<Turn, postgres::Error> {
        let ttl = self.options.server_ttl;
        let renew_due = self.renewed_at.elapsed() >= ttl / 4;
        let sweep_due = self.swept_at.elapsed() >= SWEEP_EVERY;
        let mut name = self.name.clone();
        let head = read::begin_locked(s)?;
        let mut everything = everything;
        if renew_due || everything {
            let registered = registry::renew(s, &name, ttl)?;
            if !registered {
                tracing::warn!(
                    server = name,
                    "this server was declared dead (it did not renew its registration in time); it reads the store again and its workers' work is handed out again"
                );
                everything = true;
            }
            if everything {
                // Registered anew, so what the old name held is handed out again.
                registry::unregister(s, &name)?;
                name = registry::new_name();
                registry::register(s, &name, ttl)?;
            }
        }
        let news = if everything {
            News::Everything(read::snapshot(&mut s.client)?)
        } else {
            read::changes(s, signed(seen), head)?
        };
        let orphans = if sweep_due {
            registry::orphans(s)?
        } else {
            Orphans::default()
        };
        if renew_due || everything {
            self.renewed_at = Instant::now();
        }
        if sweep_due {
            self.swept_at = Instant::now();
        }
        self.name = name;
        self.head = head;
        Ok(Turn {
            news,
            position: unsigned(head),
            orphans,
        })
    }

    fn write(&self, s: &mut Session, batch: &Batch) -> Result<i64, postgres::Error> {
        let (head, name) = (self.head, self.name.as_str());
        let mut next_seq = None;
        for (_, changes) in batch {
            write::apply(s, changes, name)?;
            next_seq = next_seq.max(Some(changes.next_seq));
        }
        let touched = Touched::of(batch);
        let position = match next_seq {
            Some(next_seq) if !touched.is_empty() => {
                let position = head + 1;
                touched.record(s, position, next_seq, CHANNEL)?;
                if position % 1024 == 0 {
                    s.exec(
                        "DELETE FROM dt_changes WHERE position <= $1",
                        &[&(position - CHANGES_KEPT)],
                    )?;
                }
                position
            }
            Some(next_seq) => {
                write::next_seq(s, next_seq)?;
                head
            }
            None => head,
        };
        s.client.batch_execute("COMMIT")?;
        Ok(position)
    }
}

impl SharedStorage for PgShared {
    fn begin(&mut self, seen: u64, everything: bool) -> Result<Turn, String> {
        self.with_session(|this, s| this.open_turn(s, seen, everything))
    }

    fn commit(&mut self, batch: &Batch) -> Result<u64, String> {
        self.with_session(|this, s| this.write(s, batch))
            .map(unsigned)
    }

    fn catch_up(&mut self, seen: u64) -> Result<Option<(News, u64)>, String> {
        let caught = self.with_session(|_, s| {
            s.client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let head = read::position(s)?;
            let news = read::changes(s, signed(seen), head)?;
            s.client.batch_execute("COMMIT")?;
            Ok((news, head))
        })?;
        Ok(match caught {
            (News::Nothing, _) => None,
            (news, head) => Some((news, unsigned(head))),
        })
    }

    fn load(&mut self) -> StoreResult<(Snapshot, u64)> {
        self.with_session(|_, s| {
            s.client
                .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
            let head = read::position(s)?;
            let snapshot = read::snapshot(&mut s.client)?;
            s.client.batch_execute("COMMIT")?;
            Ok((snapshot, unsigned(head)))
        })
        .map_err(|e| {
            StoreError::Unavailable(format!("the store could not be read from PostgreSQL: {e}"))
        })
    }

    fn subscribe(&mut self, wake: Arc<dyn Fn(u64) + Send + Sync>) {
        match Listener::spawn(self.url.clone(), self.options.clone(), wake) {
            Ok(listener) => self.listener = Some(listener),
            Err(err) => {
                tracing::warn!(%err, "cannot listen for other servers' changes; polling only")
            }
        }
    }

    fn poll_interval(&self) -> Duration {
        (self.options.server_ttl / 4).min(Duration::from_secs(1))
    }

    /// Unregisters, so the others hand out what this server's workers held at once.
    fn close(&mut self) {
        drop(self.listener.take());
        let name = self.name.clone();
        if let Some(s) = &mut self.session
            && let Err(err) = registry::unregister(s, &name)
        {
            tracing::warn!(err = %connect::describe(&err), "unregistering from the shared store failed");
        }
    }
}

/// PostgreSQL integers are signed; positions and sequence numbers stay far below `i64::MAX`.
fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
