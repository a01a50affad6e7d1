//! Every error the native module can raise, and the one place that maps each to its Python
//! exception: bad arguments to `ValueError`/`TypeError`, a port that cannot be bound to an
//! `OSError` naming the port (and an unreadable certificate file to one naming the file), a
//! certificate or key that cannot be used to `ValueError`, everything else to `RuntimeError`.

use pyo3::PyErr;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};

/// An error on its way to Python.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// An argument has the right type but a value out of range.
    #[error("{0}")]
    InvalidValue(String),
    /// An argument has the wrong type.
    #[error("{0}")]
    WrongType(String),
    /// The server could not bind its port.
    #[error("cannot listen on port {port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// Why.
        source: dt_grpc::BindError,
    },
    /// A thread or runtime could not be created.
    #[error("cannot start the server: {0}")]
    Os(std::io::Error),
    /// The store failed (e.g. on reset).
    #[error("store error: {0}")]
    Store(#[from] dt_store::StoreError),
    /// The `dt-server` command failed.
    #[error(transparent)]
    Cli(#[from] dt_grpc::cli::CliError),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(dt_security::TlsError),
    /// A time-skipping request was refused (off, an unbalanced unlock).
    #[error("{0}")]
    TimeSkipping(#[from] dt_grpc::skipping::TimeSkippingError),
    /// The store (`store=`) could not be opened.
    #[error(transparent)]
    StoreOpen(#[from] dt_grpc::OpenStoreError),
    /// The server thread ended without saying why (it panicked).
    #[error("the server thread stopped unexpectedly")]
    ServerThreadLost,
}

impl From<dt_testing::TestBackendError> for Error {
    fn from(error: dt_testing::TestBackendError) -> Self {
        match error {
            dt_testing::TestBackendError::Bind(source) => {
                let port = match &source {
                    dt_grpc::BindError::Listen { addr, .. } => addr.port(),
                    dt_grpc::BindError::Resolve { .. } => 0,
                };
                Self::Bind { port, source }
            }
            dt_testing::TestBackendError::Store(err) => Self::StoreOpen(err),
        }
    }
}

/// An `OSError` whose `errno` is the OS error's, so callers can test for `EADDRINUSE`.
fn os_error(io: &std::io::Error, message: String) -> PyErr {
    match io.raw_os_error() {
        Some(errno) => PyOSError::new_err((errno, message)),
        None => PyOSError::new_err(message),
    }
}

impl From<Error> for PyErr {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        match error {
            Error::InvalidValue(_) => PyValueError::new_err(message),
            Error::WrongType(_) => PyTypeError::new_err(message),
            Error::Bind { source, .. } => os_error(source.io_error(), message),
            Error::Cli(dt_grpc::cli::CliError::Bind(source)) => {
                os_error(source.io_error(), message)
            }
            Error::Os(io) | Error::Cli(dt_grpc::cli::CliError::Runtime(io)) => {
                os_error(&io, message)
            }
            Error::Tls(dt_security::TlsError::Read { ref source, .. }) => os_error(source, message),
            Error::Tls(_) => PyValueError::new_err(message),
            Error::TimeSkipping(dt_grpc::skipping::TimeSkippingError::InvalidArgument(_)) => {
                PyValueError::new_err(message)
            }
            Error::Store(_)
            | Error::StoreOpen(_)
            | Error::Cli(_)
            | Error::ServerThreadLost
            | Error::TimeSkipping(_) => PyRuntimeError::new_err(message),
        }
    }
}
