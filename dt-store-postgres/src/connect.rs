//! Opening a session: connecting with bounded waits, setting the session up so no statement
//! can hang, and bringing the schema up to date. Run at start and again each time the
//! session is lost.

use crate::error::OpenError;
use crate::{PgOptions, PgUrl, schema};
use postgres::{Client, Config, NoTls};
use std::str::FromStr;
use std::time::Duration;

/// A ready session: connected ([`connect`]) on a schema brought up to date ([`prepare`]).
pub(crate) fn open(url: &PgUrl, options: &PgOptions) -> Result<Client, OpenError> {
    prepare(connect(url, options)?, url)
}

/// [`open`] on a thread of its own, given up after [`connect_budget`] plus the statement
/// timeout: the writer never hangs on a server that accepts and never answers. A session that
/// is made after all is closed at once (its result finds nobody to take it).
pub(crate) fn open_bounded(url: &PgUrl, options: &PgOptions) -> Result<Client, OpenError> {
    let (done, result) = std::sync::mpsc::sync_channel(1);
    let (for_thread, options_for_thread) = (url.clone(), options.clone());
    let spawned = std::thread::Builder::new()
        .name("dt-postgres-connect".to_owned())
        .spawn(move || {
            let _ = done.send(open(&for_thread, &options_for_thread));
        });
    let limit = connect_budget(options) + options.statement_timeout;
    let failed = |reason: String| OpenError::Connect {
        url: url.to_string(),
        reason,
    };
    if let Err(err) = spawned {
        return Err(failed(format!("cannot start a thread to connect: {err}")));
    }
    match result.recv_timeout(limit) {
        Ok(opened) => opened,
        Err(_) => Err(failed(format!("no answer within {limit:?}"))),
    }
}

/// A session set up so that no statement waits longer than the options allow. Connecting
/// itself is bounded only up to the TCP handshake (the driver's `connect_timeout`): callers
/// bound the rest by waiting on this thread at most [`connect_budget`].
pub(crate) fn connect(url: &PgUrl, options: &PgOptions) -> Result<Client, OpenError> {
    connect_as(url, options, "dt-server")
}

/// [`connect`], naming the session `application` unless the URL names it.
pub(crate) fn connect_as(
    url: &PgUrl,
    options: &PgOptions,
    application: &str,
) -> Result<Client, OpenError> {
    let shown = url.to_string();
    let connect_failed = |err: postgres::Error| OpenError::Connect {
        url: shown.clone(),
        reason: describe(&err),
    };
    let mut config = Config::from_str(url.expose()).map_err(connect_failed)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name(application);
    }
    // A peer that vanishes (a dead host, a cut network) is noticed by the kernel instead of
    // leaving a call waiting on a socket forever.
    config
        .keepalives(true)
        .keepalives_idle(options.keepalive)
        .keepalives_interval(options.keepalive / 3)
        .keepalives_retries(3);
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(options.statement_timeout);
    }
    let mut client = config.connect(NoTls).map_err(connect_failed)?;
    let millis = options.statement_timeout.as_millis();
    client
        .batch_execute(&format!(
            "SET statement_timeout = {millis}; SET lock_timeout = {millis}; \
             SET idle_in_transaction_session_timeout = {millis}"
        ))
        .map_err(connect_failed)?;
    Ok(client)
}

/// How long [`connect`] may take before it counts as hung: a TCP handshake and a startup
/// exchange, each within the connect timeout.
pub(crate) fn connect_budget(options: &PgOptions) -> Duration {
    options.connect_timeout * 2
}

/// Brings the schema up to date.
pub(crate) fn prepare(mut client: Client, url: &PgUrl) -> Result<Client, OpenError> {
    schema::prepare(&mut client, &url.to_string())?;
    Ok(client)
}

/// The driver's error with the server's own message and detail, when there is one (the
/// driver's `Display` says only "db error").
pub(crate) fn describe(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}
