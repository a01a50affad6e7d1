//! The servers sharing a database: each registers under a name of its own and renews the
//! registration; the work a server holds is named by that registration (`owner`), and once
//! the registration lapses the next turn hands that work out again ([`orphans`]). Every time
//! here is the database's clock, so the servers' own clocks never decide who is alive.

use crate::write::Session;
use dt_store::journal::Orphans;
use std::time::Duration;

type Result<T> = std::result::Result<T, postgres::Error>;

/// A new name for this server: unique, and readable in `dt_servers`.
pub(crate) fn new_name() -> String {
    format!(
        "{}-{}-{}",
        hostname(),
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "dt-server".to_owned())
}

fn interval(ttl: Duration) -> String {
    format!("{} milliseconds", ttl.as_millis())
}

/// Registers `name`, alive for `ttl` from now.
pub(crate) fn register(s: &mut Session, name: &str, ttl: Duration) -> Result<()> {
    s.exec(
        "INSERT INTO dt_servers (id, expires_at) VALUES ($1, now() + $2::text::interval)",
        &[&name, &interval(ttl)],
    )?;
    Ok(())
}

/// Renews `name` for `ttl` from now; false when it is no longer registered (declared dead).
pub(crate) fn renew(s: &mut Session, name: &str, ttl: Duration) -> Result<bool> {
    let renewed = s.exec(
        "UPDATE dt_servers SET expires_at = now() + $2::text::interval WHERE id = $1",
        &[&name, &interval(ttl)],
    )?;
    Ok(renewed == 1)
}

/// Removes `name` (a stopping server, or one registering again under a new name): its work
/// is handed out by the next turn that looks.
pub(crate) fn unregister(s: &mut Session, name: &str) -> Result<()> {
    s.exec("DELETE FROM dt_servers WHERE id = $1", &[&name])?;
    Ok(())
}

/// The work held by servers whose registration lapsed or is gone; their registrations are
/// removed. Only rows with an owner are looked at (partial indexes), so this is cheap.
pub(crate) fn orphans(s: &mut Session) -> Result<Orphans> {
    let dead = s.query(
        "DELETE FROM dt_servers WHERE expires_at < now() RETURNING id",
        &[],
    )?;
    for row in &dead {
        let name: String = row.try_get(0)?;
        tracing::warn!(
            server = name,
            "a server sharing the store stopped renewing its registration; its work is handed out again"
        );
    }
    let ids = |rows: Vec<postgres::Row>| -> Result<Vec<String>> {
        rows.iter().map(|r| r.try_get(0)).collect()
    };
    Ok(Orphans {
        instances: ids(s.query(
            "SELECT id FROM dt_instances WHERE owner IS NOT NULL
             AND owner NOT IN (SELECT id FROM dt_servers)",
            &[],
        )?)?,
        entities: ids(s.query(
            "SELECT id FROM dt_entities WHERE owner IS NOT NULL
             AND owner NOT IN (SELECT id FROM dt_servers)",
            &[],
        )?)?,
        activities: s
            .query(
                "SELECT record FROM dt_activities WHERE owner IS NOT NULL
                 AND owner NOT IN (SELECT id FROM dt_servers) ORDER BY seq",
                &[],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_>>()?,
    })
}
