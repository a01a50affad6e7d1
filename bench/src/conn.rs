//! Connections: a tonic client on its own HTTP/2 connection, with message limits raised so
//! that large histories (wide fan-outs) are accepted; several connections spread over the
//! servers of one task hub in turn.

use anyhow::{Context, Result};
use dt_proto::task_hub_sidecar_service_client::TaskHubSidecarServiceClient;
use tonic::transport::{Channel, Endpoint};

pub(crate) type Client = TaskHubSidecarServiceClient<Channel>;

/// The largest message the driver sends or accepts.
const MAX_MESSAGE: usize = 512 << 20;

/// A client on a fresh connection to `address` (e.g. `http://127.0.0.1:4001`).
pub(crate) async fn connect(address: &str) -> Result<Client> {
    let channel = Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("bad address {address}"))?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot connect to {address}"))?;
    Ok(TaskHubSidecarServiceClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// `count` clients (at least one), each on its own connection, to `addresses` in turn: the
/// i-th to `addresses[i % len]`, so every server gets its share when `count` is a multiple of
/// their number.
pub(crate) async fn connect_many(addresses: &[String], count: usize) -> Result<Vec<Client>> {
    let mut clients = Vec::with_capacity(count);
    for address in addresses.iter().cycle().take(count.max(1)) {
        clients.push(connect(address).await?);
    }
    if clients.is_empty() {
        anyhow::bail!("no server address given");
    }
    Ok(clients)
}
