//! `ObservedStore`'s own job: which change each call reports, and the work counts by kind.

use dt_core::{NewInstance, WorkFilters};
use dt_proto::work_item::Request;
use dt_proto::*;
use dt_store::{Change, CreateInstance, MemoryStore, ObservedStore, PerKind, Store, StoreConfig};
use std::sync::Arc;
use tokio::sync::broadcast::error::TryRecvError;

fn store() -> ObservedStore {
    ObservedStore::new(Arc::new(MemoryStore::new(StoreConfig::default())))
}

fn new_instance(id: &str) -> CreateInstance {
    CreateInstance::from(NewInstance {
        id: id.to_owned(),
        name: "o".to_owned(),
        ..Default::default()
    })
}

/// Everything published so far.
fn drain(rx: &mut tokio::sync::broadcast::Receiver<Change>) -> Vec<Change> {
    let mut seen = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(change) => seen.push(change),
            Err(TryRecvError::Empty | TryRecvError::Closed) => return seen,
            Err(TryRecvError::Lagged(_)) => seen.push(Change::Any),
        }
    }
}

#[tokio::test]
async fn each_call_reports_what_it_changed() -> Result<(), dt_store::StoreError> {
    let store = store();
    let mut rx = store.subscribe();
    store.create_instance(new_instance("a")).await?;
    store.raise_event("a", "e".into(), None).await?;
    store.suspend_instance("a", None).await?;
    store
        .signal_entity(SignalEntityRequest {
            instance_id: "@counter@1".into(),
            name: "add".into(),
            request_id: "r1".into(),
            ..Default::default()
        })
        .await?;
    store.get_instance("a", true).await?;
    store.run_due().await?;
    assert_eq!(
        drain(&mut rx),
        [
            Change::Instance("a".into()),
            Change::Instance("a".into()),
            Change::Instance("a".into()),
            Change::Entity("@counter@1".into()),
            Change::Any,
        ],
        "reads publish nothing"
    );
    // A failed call changed nothing and reports nothing.
    assert!(store.raise_event("nope", "e".into(), None).await.is_err());
    assert_eq!(drain(&mut rx), []);
    Ok(())
}

#[tokio::test]
async fn work_items_are_counted_by_kind() -> Result<(), dt_store::StoreError> {
    let store = store();
    let worker = store.connect_worker(WorkFilters::all().into()).await?;
    store.create_instance(new_instance("a")).await?;
    store.create_instance(new_instance("b")).await?;
    let first = store.next_work_item(worker).await?.into_proto();
    let second = store.next_work_item(worker).await?.into_proto();
    for item in [&first, &second] {
        assert!(matches!(
            item.request,
            Some(Request::OrchestratorRequest(_))
        ));
    }
    let Some(Request::OrchestratorRequest(a)) = first.request else {
        unreachable!("checked above");
    };
    store
        .complete_orchestration(OrchestratorResponse {
            instance_id: a.instance_id,
            completion_token: first.completion_token,
            ..Default::default()
        })
        .await?;
    store
        .abandon_orchestration(&second.completion_token)
        .await?;
    let counts = store.work_counts();
    let one = PerKind {
        orchestrations: 1,
        ..Default::default()
    };
    assert_eq!(counts.dispatched.orchestrations, 2);
    assert_eq!(counts.completed, one);
    assert_eq!(counts.abandoned, one);
    Ok(())
}
