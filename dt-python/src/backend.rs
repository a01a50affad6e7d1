//! `_native.Backend`: the state behind `durabletask_rs.testing.InMemoryOrchestrationBackend`.
//! It owns the store for its whole life, so instances survive `stop()` and `start()` as in the
//! Python SDK's backend, and at most one running server. Every wait happens with the GIL
//! released; the state lock is only ever taken with the GIL released, so a thread holding it
//! never waits for the GIL.

use crate::errors::Error;
use crate::options::{self, BackendOptions};
use crate::server::{self, RunningServer};
use dt_store::Store;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The native backend (see the Python class for the documented behaviour).
#[pyclass(frozen, module = "durabletask_rs._native")]
pub(crate) struct Backend {
    options: BackendOptions,
    store: Arc<dyn Store>,
    state: Mutex<State>,
}

struct State {
    running: Option<RunningServer>,
    /// The port last bound, or the one asked for before the first start (0: any free one).
    port: u16,
}

impl Backend {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl Backend {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let options = BackendOptions::from_python(options)?;
        Ok(Self {
            store: options.store(),
            state: Mutex::new(State {
                running: None,
                port: options.port,
            }),
            options,
        })
    }

    /// Binds and serves; returns the bound port. Does nothing but return it when running.
    fn start(&self, py: Python<'_>) -> PyResult<u16> {
        let port = py.detach(|| -> Result<u16, Error> {
            let mut state = self.state();
            if let Some(running) = &state.running {
                return Ok(running.port());
            }
            // The port bound first is kept, so clients keep their address across a restart.
            let running = RunningServer::start(self.store.clone(), state.port, &self.options)?;
            state.port = running.port();
            state.running = Some(running);
            Ok(state.port)
        })?;
        Ok(port)
    }

    /// Stops serving (the store is kept); does nothing when not running.
    #[pyo3(signature = (grace=None))]
    fn stop(&self, py: Python<'_>, grace: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let grace = options::grace(grace)?;
        py.detach(|| {
            // Held through the stop, so a concurrent start() waits until the port is free.
            let mut state = self.state();
            match state.running.take() {
                Some(running) => running.stop(grace),
                None => Ok(()),
            }
        })?;
        Ok(())
    }

    /// Forgets every instance, entity and queued work item, running or not.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| -> Result<(), Error> {
            let state = self.state();
            match &state.running {
                Some(running) => running.block_on(self.store.reset())?,
                None => server::block_on_idle(self.store.reset())??,
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The bound port (the last one after `stop()`), or the configured one before `start()`.
    #[getter]
    fn port(&self, py: Python<'_>) -> u16 {
        py.detach(|| self.state().port)
    }

    /// Whether a server is running.
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        py.detach(|| self.state().running.is_some())
    }
}
