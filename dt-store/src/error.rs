//! The storage layer's error type; each variant maps to one gRPC status in dt-grpc.

use thiserror::Error;

/// Why a store call failed. Unless the contract of a method says otherwise, an error means
/// nothing was changed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The named instance does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An instance with that id exists and the reuse policy does not allow replacing it.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request does not fit the current state (e.g. restart of a running instance).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The operation is not supported by this store or server yet.
    #[error("{0}")]
    Unsupported(String),
}

/// Shortens a client-supplied id for an error message: gRPC caps status metadata, and a
/// megabyte id echoed back would turn a clear error into RESOURCE_EXHAUSTED.
pub fn clip(id: &str) -> String {
    const MAX: usize = 200;
    if id.len() <= MAX {
        return id.to_owned();
    }
    let mut end = MAX;
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &id[..end])
}
