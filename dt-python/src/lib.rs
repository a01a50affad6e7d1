//! The native module `durabletask_rs._native`: a thin PyO3 layer over the Rust server. The
//! public Python names (`durabletask_rs.testing`, the `dt-server` script, the pytest plugin)
//! live in `python/durabletask_rs/`; this module gives them the backend class and the
//! command-line entry point, with the GIL released whenever Rust waits.

mod backend;
mod cli;
mod errors;
mod options;
mod server;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<backend::Backend>()?;
    m.add_function(wrap_pyfunction!(cli::run_server, m)?)?;
    Ok(())
}
