//! The backend's options, checked once as they come in from Python. Adding an option (a clock
//! mode, a store URL, an HTTP port) is a field here, read in `from_python` and used in
//! `store`/`serve`; the Python wrapper only passes its keyword argument through.

use crate::errors::Error;
use dt_grpc::Security;
use dt_grpc::skipping::TimeSkipping;
use dt_security::{TlsCertificate, TlsFiles, TokenSet};
use dt_store::{ObservedStore, Store, StoreConfig};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The store a backend serves, the observed wrapper the dashboard reads (with HTTP), and its
/// time skipping.
pub(crate) type OpenedStore = (
    Arc<dyn Store>,
    Option<Arc<ObservedStore>>,
    Arc<TimeSkipping>,
);

/// What a backend was created with.
#[derive(Clone, Debug)]
pub(crate) struct BackendOptions {
    /// The port asked for; 0 picks a free one at the first start.
    pub(crate) port: u16,
    /// Most history events one orchestration execution may hold.
    pub(crate) max_history_size: usize,
    /// TLS (`tls_cert`/`tls_key`) and bearer tokens (`auth_token`), loaded once here so a bad
    /// file fails the constructor rather than a later `start()`.
    pub(crate) security: Security,
    /// Time skipping (README "Time skipping"); off unless asked for.
    pub(crate) time_skipping: bool,
    /// Serve the dashboard and admin API on this port too (0: a free one); `None`: no HTTP.
    pub(crate) http_port: Option<u16>,
    /// Where state is kept (`store="sqlite://PATH"` or `"postgres://..."`); memory unless asked.
    pub(crate) storage: dt_grpc::StoreSpec,
}

impl BackendOptions {
    /// Checks the constructor's keyword arguments: `TypeError` for a missing, unknown or
    /// non-int one, `ValueError` for a value out of range.
    pub(crate) fn from_python(kwargs: Option<&Bound<'_, PyDict>>) -> Result<Self, Error> {
        // The dict is the call's own (**kwargs), so reading it empties it.
        let mut kwargs = Kwargs(kwargs.cloned());
        let max_history_size = int_arg("max_history_size", &kwargs.take("max_history_size")?)?;
        let max_history_size = usize::try_from(max_history_size)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                Error::InvalidValue(format!(
                    "max_history_size must be at least 1, got {max_history_size}"
                ))
            })?;
        let port = port_arg("port", &kwargs.take("port")?)?;
        let tokens = tokens_arg(kwargs.take_optional("auth_token"))?;
        let tls = tls_arg(
            kwargs.take_optional("tls_cert"),
            kwargs.take_optional("tls_key"),
        )?;
        let time_skipping = match kwargs.take_optional("time_skipping") {
            None => false,
            Some(value) if value.is_instance_of::<PyBool>() => value
                .is_truthy()
                .map_err(|_| Error::WrongType("time_skipping must be a bool or None".to_owned()))?,
            Some(value) => {
                return Err(Error::WrongType(format!(
                    "time_skipping must be a bool or None, not {}",
                    type_name(&value)
                )));
            }
        };
        let http_port = kwargs
            .take_optional("http_port")
            .map(|value| port_arg("http_port", &value))
            .transpose()?;
        let storage = match kwargs.take_optional("store") {
            None => dt_grpc::StoreSpec::Memory,
            Some(value) if value.is_instance_of::<PyString>() => value
                .extract::<String>()
                .map_err(|_| Error::WrongType("store must be a str or None".to_owned()))?
                .parse()
                .map_err(|e: dt_grpc::StoreSpecError| Error::InvalidValue(e.to_string()))?,
            Some(value) => {
                return Err(Error::WrongType(format!(
                    "store must be a str ('memory', 'sqlite://PATH' or 'postgres://...') or None, not {}",
                    type_name(&value)
                )));
            }
        };
        kwargs.finish()?;
        Ok(Self {
            port,
            max_history_size,
            security: Security {
                tls,
                tokens: Arc::new(tokens),
            },
            time_skipping,
            http_port,
            storage,
        })
    }

    /// A new empty store with these options, and its time skipping (on or off). With HTTP, the
    /// store is wrapped once in the `ObservedStore` both ports serve (the dashboard's live view
    /// and metrics), which is also returned for the dashboard.
    pub(crate) fn store(&self) -> Result<OpenedStore, Error> {
        let config = StoreConfig {
            max_history_size: self.max_history_size,
            ..StoreConfig::default()
        };
        let (store, time) = TimeSkipping::open_store(&self.storage, config, self.time_skipping)?;
        if self.http_port.is_none() {
            return Ok((store, None, time));
        }
        let observed = Arc::new(ObservedStore::new(store));
        Ok((observed.clone(), Some(observed), time))
    }

    /// The server settings, with the backend's time skipping.
    pub(crate) fn serve(&self, time: &Arc<TimeSkipping>) -> dt_grpc::ServeOptions {
        dt_grpc::ServeOptions {
            security: self.security.clone(),
            time_skipping: Some(time.clone()),
            ..dt_grpc::ServeOptions::default()
        }
    }
}

/// The keyword arguments not read yet.
struct Kwargs<'py>(Option<Bound<'py, PyDict>>);

impl<'py> Kwargs<'py> {
    /// Removes and returns a required argument.
    fn take(&mut self, name: &str) -> Result<Bound<'py, PyAny>, Error> {
        let missing = || Error::WrongType(format!("missing option {name}"));
        let dict = self.0.as_ref().ok_or_else(missing)?;
        let value = dict.get_item(name).ok().flatten().ok_or_else(missing)?;
        let _ = dict.del_item(name);
        Ok(value)
    }

    /// Removes and returns an optional argument; `None` when absent or Python `None`.
    fn take_optional(&mut self, name: &str) -> Option<Bound<'py, PyAny>> {
        let dict = self.0.as_ref()?;
        let value = dict.get_item(name).ok().flatten()?;
        let _ = dict.del_item(name);
        Some(value).filter(|v| !v.is_none())
    }

    /// Fails on any argument left: an option the native module does not know.
    fn finish(self) -> Result<(), Error> {
        match self.0.and_then(|d| d.keys().iter().next()) {
            Some(name) => Err(Error::WrongType(format!("unexpected option {name}"))),
            None => Ok(()),
        }
    }
}

/// How long `stop()` (grace `None`) lets connections close. Work-item streams and waits end
/// at once on shutdown, so connections normally close within a round trip: the HTTP/2 GOAWAY
/// handshake, which tells each client (the SDK's gRPC channels, which share connections across
/// clients) not to send on that connection again before the next server takes the port.
/// Cutting connections instead leaves a client that has not yet noticed to fail its next call
/// with UNAVAILABLE (broken pipe). The bound only matters for a client that stops reading.
pub(crate) const DEFAULT_GRACE: Duration = Duration::from_secs(1);

/// `stop(grace)`: `None` is [`DEFAULT_GRACE`]; otherwise a finite number of seconds, not
/// negative (0 cuts the connections at once).
pub(crate) fn grace(value: Option<&Bound<'_, PyAny>>) -> Result<Duration, Error> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(DEFAULT_GRACE);
    };
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
    {
        return Err(Error::WrongType(format!(
            "grace must be a number of seconds or None, not {}",
            type_name(value)
        )));
    }
    let seconds: f64 = value
        .extract()
        .map_err(|_| Error::InvalidValue("grace is out of range".to_owned()))?;
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        Error::InvalidValue(format!(
            "grace must be a finite number of seconds, at least 0, got {seconds}"
        ))
    })
}

/// `auth_token`: one token (`str`) or several (a list or tuple of `str`); every call must then
/// carry `authorization: Bearer <one of them>`.
fn tokens_arg(value: Option<Bound<'_, PyAny>>) -> Result<TokenSet, Error> {
    let Some(value) = value else {
        return Ok(TokenSet::default());
    };
    let tokens: Vec<String> = if value.is_instance_of::<PyString>() {
        vec![value.extract().map_err(|_| wrong_tokens(&value))?]
    } else if value.is_instance_of::<pyo3::types::PyList>()
        || value.is_instance_of::<pyo3::types::PyTuple>()
    {
        value.extract().map_err(|_| wrong_tokens(&value))?
    } else {
        return Err(wrong_tokens(&value));
    };
    let set =
        TokenSet::new(&tokens).map_err(|e| Error::InvalidValue(format!("auth_token: {e}")))?;
    if set.is_empty() {
        return Err(Error::InvalidValue(
            "auth_token holds no token (pass None for no authentication)".to_owned(),
        ));
    }
    Ok(set)
}

fn wrong_tokens(value: &Bound<'_, PyAny>) -> Error {
    Error::WrongType(format!(
        "auth_token must be a str or a list of str, not {}",
        type_name(value)
    ))
}

/// `tls_cert` and `tls_key`: PEM file paths (`str` or `os.PathLike`), both or neither.
fn tls_arg(
    cert: Option<Bound<'_, PyAny>>,
    key: Option<Bound<'_, PyAny>>,
) -> Result<Option<Arc<TlsCertificate>>, Error> {
    let files = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => TlsFiles {
            cert: path_arg("tls_cert", &cert)?,
            key: path_arg("tls_key", &key)?,
        },
        (Some(_), None) => return Err(tls_incomplete("tls_cert", "tls_key")),
        (None, Some(_)) => return Err(tls_incomplete("tls_key", "tls_cert")),
    };
    TlsCertificate::load(files).map(Some).map_err(Error::Tls)
}

fn tls_incomplete(given: &str, missing: &str) -> Error {
    Error::InvalidValue(format!(
        "{given} was given without {missing}: TLS needs both a certificate and its private key"
    ))
}

fn path_arg(name: &str, value: &Bound<'_, PyAny>) -> Result<PathBuf, Error> {
    value.extract::<PathBuf>().map_err(|_| {
        Error::WrongType(format!(
            "{name} must be a path (str or os.PathLike), not {}",
            type_name(value)
        ))
    })
}

/// A port argument: an `int` in 0..=65535 (0: a free one).
fn port_arg(name: &str, value: &Bound<'_, PyAny>) -> Result<u16, Error> {
    let port = int_arg(name, value)?;
    u16::try_from(port)
        .map_err(|_| Error::InvalidValue(format!("{name} must be between 0 and 65535, got {port}")))
}

/// An `int` argument (a `bool` is refused: `port=True` is a mistake, not port 1).
fn int_arg(name: &str, value: &Bound<'_, PyAny>) -> Result<i64, Error> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(Error::WrongType(format!(
            "{name} must be an int, not {}",
            type_name(value)
        )));
    }
    value
        .extract::<i64>()
        .map_err(|_| Error::InvalidValue(format!("{name} is out of range: {value}")))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}
