//! Compiles `orchestrator_service.proto` (and our own `time_control.proto`) with protox (no system `protoc`), keeps the encoded
//! descriptor set for the descriptor check, and generates messages plus feature-gated stubs.

use prost::Message;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "orchestrator_service.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("descriptor_set.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .client_mod_attribute(".", "#[cfg(feature = \"grpc\")]")
        .server_mod_attribute(".", "#[cfg(feature = \"grpc\")]")
        .compile_fds(fds)?;
    // Our own service, compiled apart so FILE_DESCRIPTOR_SET stays the SDK's file alone.
    let ours = "time_control.proto";
    println!("cargo:rerun-if-changed={ours}");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .client_mod_attribute(".", "#[cfg(feature = \"grpc\")]")
        .server_mod_attribute(".", "#[cfg(feature = \"grpc\")]")
        .compile_fds(protox::compile([ours], ["."])?)?;
    // The records durable stores keep; messages only.
    let records = "store.proto";
    println!("cargo:rerun-if-changed={records}");
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(protox::compile([records], ["."])?)?;
    Ok(())
}
