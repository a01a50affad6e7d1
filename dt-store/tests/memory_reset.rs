//! What the shared suite cannot show about the in-memory store, because it always runs with
//! the default configuration: a reset keeps the store's configuration.

use dt_core::{NewInstance, WorkFilters};
use dt_store::{ManualClock, MemoryStore, Store, StoreConfig};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn reset_keeps_the_configured_lease_length() -> Result<(), dt_store::StoreError> {
    let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
    let config = StoreConfig {
        lease_duration: Duration::from_secs(10),
        ..StoreConfig::default()
    };
    let store = MemoryStore::with_clock(config, clock.clone());
    store.reset().await?;
    let worker = store.connect_worker(WorkFilters::all().into()).await?;
    let spec = NewInstance {
        id: "i".to_owned(),
        name: "o".to_owned(),
        ..Default::default()
    };
    store.create_instance(spec.into()).await?;
    let first = store.try_next_work_item(worker).await?;
    assert!(first.is_some(), "the instance's first work item");
    clock.advance(chrono::Duration::seconds(10));
    store.run_due().await?;
    let again = store.try_next_work_item(worker).await?;
    assert!(
        again.is_some(),
        "after a reset, a lease still expires after the configured 10 s"
    );
    Ok(())
}
