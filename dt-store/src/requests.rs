//! Rules on client requests that every edge (gRPC, HTTP) applies before calling a store, kept
//! here once so no edge has its own copy.

use crate::error::{StoreError, clip};
use dt_core::NewInstance;

/// A new orchestration needs a name, and its id must not look like an entity id.
pub fn check_new_instance(spec: &NewInstance) -> Result<(), StoreError> {
    if spec.name.is_empty() {
        return Err(StoreError::InvalidArgument(
            "an orchestrator name is required".to_owned(),
        ));
    }
    if spec.id.starts_with('@') {
        return Err(StoreError::InvalidArgument(format!(
            "instance id '{}' starts with '@', which is reserved for entities",
            clip(&spec.id)
        )));
    }
    Ok(())
}
