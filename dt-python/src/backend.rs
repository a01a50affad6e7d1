//! `_native.Backend`: the state behind `durabletask_rs.testing.InMemoryOrchestrationBackend`.
//! It owns the store for its whole life, so instances survive `stop()` and `start()` as in the
//! Python SDK's backend, and at most one running server. Every wait happens with the GIL
//! released; the state lock is only ever taken with the GIL released, so a thread holding it
//! never waits for the GIL.

use crate::errors::Error;
use crate::options::{self, BackendOptions};
use crate::server::{self, Http, RunningServer};
use dt_grpc::skipping::TimeSkipping;
use dt_store::{ObservedStore, Store};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The native backend (see the Python class for the documented behaviour).
#[pyclass(frozen, module = "durabletask_rs._native")]
pub(crate) struct Backend {
    options: BackendOptions,
    store: Arc<dyn Store>,
    /// The wrapper the dashboard reads, when HTTP is asked for (the same as `store`).
    observed: Option<Arc<ObservedStore>>,
    /// The store's time skipping (on or off), kept with it across stop and start.
    time: Arc<TimeSkipping>,
    state: Mutex<State>,
}

struct State {
    running: Option<RunningServer>,
    /// The port last bound, or the one asked for before the first start (0: any free one).
    port: u16,
    /// The same for the dashboard (`None`: no HTTP).
    http_port: Option<u16>,
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
        let (store, observed, time) = options.store()?;
        Ok(Self {
            store,
            observed,
            time,
            state: Mutex::new(State {
                running: None,
                port: options.port,
                http_port: options.http_port,
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
            let serve = self.options.serve(&self.time);
            let http = self
                .observed
                .clone()
                .zip(state.http_port)
                .map(|(store, port)| Http { store, port });
            let running = RunningServer::start(self.store.clone(), state.port, serve, http)?;
            state.port = running.port();
            state.http_port = running.http_port().or(state.http_port);
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

    /// The backend's current time in microseconds since the Unix epoch (virtual with time
    /// skipping on).
    fn now_micros(&self) -> i64 {
        self.time.now().timestamp_micros()
    }

    /// Skips `seconds` ahead (see the Python method); returns the time after, in microseconds.
    fn skip(&self, py: Python<'_>, seconds: f64) -> PyResult<i64> {
        let by = std::time::Duration::try_from_secs_f64(seconds).map_err(|_| {
            Error::InvalidValue(format!(
                "skip needs a finite duration of at least 0, got {seconds} s"
            ))
        })?;
        let after = py.detach(|| -> Result<i64, Error> {
            let skip = self.time.skip(by);
            let state = self.state();
            let (time, _) = match &state.running {
                Some(running) => running.block_on(skip)?,
                None => server::block_on_idle(skip)??,
            };
            Ok(time.timestamp_micros())
        })?;
        Ok(after)
    }

    /// Takes one hold on automatic skipping.
    fn lock_time_skipping(&self) -> PyResult<()> {
        Ok(self.time.lock().map_err(Error::from)?)
    }

    /// Releases one hold; RuntimeError when none is held.
    fn unlock_time_skipping(&self) -> PyResult<()> {
        Ok(self.time.unlock().map_err(Error::from)?)
    }

    /// The time-skipping status as a dict (times in microseconds since the epoch).
    fn time_skipping_status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let status = py.detach(|| -> Result<_, Error> {
            let status = self.time.status();
            let state = self.state();
            Ok(match &state.running {
                Some(running) => running.block_on(status)?,
                None => server::block_on_idle(status)??,
            })
        })?;
        let dict = PyDict::new(py);
        dict.set_item("enabled", status.enabled)?;
        dict.set_item("now", status.now.timestamp_micros())?;
        dict.set_item("demand", status.demand)?;
        dict.set_item("holds", status.holds)?;
        dict.set_item(
            "next_target",
            status.view.next_target.map(|t| t.timestamp_micros()),
        )?;
        let blockers: Vec<(&str, String)> = status
            .view
            .blockers
            .iter()
            .map(|b| (b.kind.as_str(), b.id.clone()))
            .collect();
        dict.set_item("blockers", blockers)?;
        dict.set_item("blocker_count", status.view.blocker_count)?;
        dict.set_item("budget_left", status.budget_left)?;
        dict.set_item("budget_exhausted", status.budget_exhausted)?;
        Ok(dict)
    }

    /// The bound port (the last one after `stop()`), or the configured one before `start()`.
    #[getter]
    fn port(&self, py: Python<'_>) -> u16 {
        py.detach(|| self.state().port)
    }

    /// The dashboard's bound port (the last one after `stop()`), the configured one before
    /// `start()`, or `None` without HTTP.
    #[getter]
    fn http_port(&self, py: Python<'_>) -> Option<u16> {
        py.detach(|| self.state().http_port)
    }

    /// Whether a server is running.
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        py.detach(|| self.state().running.is_some())
    }
}
