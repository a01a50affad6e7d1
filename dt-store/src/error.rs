//! The storage layer's error type; each variant maps to one gRPC status in dt-grpc.

use thiserror::Error;

/// Why a store call failed. Unless the contract of a method says otherwise, an error means
/// nothing was changed. The kind travels to the edge unchanged (dt-grpc maps each to one
/// status code): never flatten one into another or into a string.
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
    /// Something went wrong inside the store that is not the caller's fault (a broken
    /// invariant, corrupt stored data). Retrying will not help.
    #[error("{0}")]
    Internal(String),
    /// The store cannot be reached right now (a database that is down or overloaded); the
    /// call may succeed if retried later.
    #[error("{0}")]
    Unavailable(String),
}

/// dt-core's errors keep their kind: what the caller sent is `InvalidArgument`, what does not
/// fit the current state is `FailedPrecondition`.
impl From<dt_core::CoreError> for StoreError {
    fn from(err: dt_core::CoreError) -> Self {
        use dt_core::CoreError as E;
        match err {
            E::MalformedAction { .. } | E::InvalidArgument(_) => {
                Self::InvalidArgument(err.to_string())
            }
            E::NoWorkInFlight(_) | E::FailedPrecondition(_) => {
                Self::FailedPrecondition(err.to_string())
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use dt_core::CoreError;

    #[test]
    fn core_errors_keep_their_kind() {
        let malformed = CoreError::MalformedAction {
            action_id: 1,
            reason: "r".into(),
        };
        assert!(matches!(
            StoreError::from(malformed),
            StoreError::InvalidArgument(_)
        ));
        assert!(matches!(
            StoreError::from(CoreError::InvalidArgument("x".into())),
            StoreError::InvalidArgument(_)
        ));
        assert!(matches!(
            StoreError::from(CoreError::FailedPrecondition("x".into())),
            StoreError::FailedPrecondition(_)
        ));
        assert!(matches!(
            StoreError::from(CoreError::NoWorkInFlight("i".into())),
            StoreError::FailedPrecondition(_)
        ));
    }
}
