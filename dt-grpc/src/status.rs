//! The one place store errors become gRPC statuses.

use dt_store::StoreError;
use tonic::Status;

/// The gRPC status for a store error.
pub(crate) fn to_status(err: StoreError) -> Status {
    match err {
        StoreError::NotFound(m) => Status::not_found(m),
        StoreError::AlreadyExists(m) => Status::already_exists(m),
        StoreError::FailedPrecondition(m) => Status::failed_precondition(m),
        StoreError::InvalidArgument(m) => Status::invalid_argument(m),
        StoreError::Unsupported(m) => Status::unimplemented(m),
        StoreError::Internal(m) => Status::internal(m),
        StoreError::Unavailable(m) => Status::unavailable(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn each_error_has_its_code() {
        let rows = [
            (StoreError::NotFound("x".into()), Code::NotFound),
            (StoreError::AlreadyExists("x".into()), Code::AlreadyExists),
            (
                StoreError::FailedPrecondition("x".into()),
                Code::FailedPrecondition,
            ),
            (
                StoreError::InvalidArgument("x".into()),
                Code::InvalidArgument,
            ),
            (StoreError::Unsupported("x".into()), Code::Unimplemented),
            (StoreError::Internal("x".into()), Code::Internal),
            (StoreError::Unavailable("x".into()), Code::Unavailable),
        ];
        for (err, code) in rows {
            let status = to_status(err.clone());
            assert_eq!(status.code(), code, "{err:?}");
            assert_eq!(status.message(), "x");
        }
    }
}
