//! The Durable Task sidecar protocol as generated Rust types.
//!
//! The `.proto` file has no `package` line, so message names are global and the service path
//! is `/TaskHubSidecarService/<Method>`, exactly what the SDKs dial. The tonic client and server
//! stubs are behind the `grpc` feature so that pure crates can use the messages alone.

#![allow(missing_docs, unreachable_pub, clippy::all)]

include!(concat!(env!("OUT_DIR"), "/_.rs"));

/// The compiled `FileDescriptorSet` of `orchestrator_service.proto` (and its imports), encoded.
/// The descriptor check compares it with the one the Python SDK ships.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/descriptor_set.bin"));

/// Our own time-control service (package `durabletask_rs.testing.v1`, file
/// `time_control.proto`), served beside the sidecar protocol.
pub mod testing {
    /// Version 1.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/durabletask_rs.testing.v1.rs"));
    }
}

/// The records durable stores keep of the engine's state (package `durabletask_rs.store.v1`,
/// file `store.proto`): never sent over the network.
pub mod store {
    /// Version 1.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/durabletask_rs.store.v1.rs"));
    }
}
