//! Reading and removing many instances: purge, query paging, terminal id listings.

use crate::prelude::*;

/// Proves **I7**: purge removes terminal instances only: a running one counts 0 and stays, a
/// terminal one counts 1 and is gone (with its history); a filter purges the terminal instances
/// with a listed status.
pub async fn purge_instances(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    let id = "purge-1";
    start_running(store, w, id).await?;
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance(id.to_owned()), false)
            .await
    );
    ensure_eq!(removed, 0, "purge count of a running instance");
    expect_status(store, id, RuntimeStatus::Running, "after a refused purge").await?;

    call!(store.terminate_instance(id, None, false).await);
    let ack = next_orchestration(store, w, id).await?;
    answer(
        store,
        &ack,
        vec![finish(1, OrchestrationStatus::Terminated, None)],
    )
    .await?;
    expect_status(store, id, RuntimeStatus::Terminated, "before purging").await?;
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance(id.to_owned()), false)
            .await
    );
    ensure_eq!(removed, 1, "purge count of a terminated instance");
    ensure!(
        call!(store.get_instance(id, true).await).is_none(),
        "a purged instance is gone"
    );
    match store.instance_history(id, None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "history of a purged instance: expected NotFound, got {other:?}"
            ));
        }
    }
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance(id.to_owned()), false)
            .await
    );
    ensure_eq!(removed, 0, "purge count of an already purged instance");

    let first = start(store, w, "purge-completed").await?;
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Completed, None)],
    )
    .await?;
    create(store, "purge-terminated").await?;
    call!(
        store
            .terminate_instance("purge-terminated", None, false)
            .await
    );
    create(store, "purge-pending").await?;

    let completed_only = PurgeInstanceFilter {
        runtime_status: vec![OrchestrationStatus::Completed as i32],
        ..Default::default()
    };
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Filter(completed_only), false)
            .await
    );
    ensure_eq!(removed, 1, "purge count of a filter on Completed");
    ensure!(
        call!(store.get_instance("purge-completed", false).await).is_none(),
        "the completed instance was purged"
    );
    ensure!(
        call!(store.get_instance("purge-terminated", false).await).is_some(),
        "a filter on Completed must leave the terminated instance"
    );
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Filter(PurgeInstanceFilter::default()), false)
            .await
    );
    ensure_eq!(
        removed,
        1,
        "purge count of an empty filter (terminal instances only)"
    );
    ensure!(
        call!(store.get_instance("purge-pending", false).await).is_some(),
        "a filter purge must leave a pending instance"
    );
    let batch = PurgeTarget::Batch(vec!["purge-pending".to_owned(), "purge-unknown".to_owned()]);
    let removed = call!(store.purge_instances(batch, false).await);
    ensure_eq!(
        removed,
        0,
        "purge count of a batch without terminal instances"
    );
    Ok(())
}

/// Proves **I8**: query paging: five matching instances in pages of two come back as 2, 2, 1 in
/// creation order, with a continuation token (never empty or `"0"`) on every page but the last; the
/// prefix and status filters hold and payloads are included only on request.
pub async fn query_paging(t: &Subject) -> Outcome {
    let store = t.store();
    let ids: Vec<String> = (1..=5).map(|i| format!("page-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        create(store, id).await?;
        if i == 2 {
            create(store, "other-1").await?;
        }
    }

    let mut query = InstanceQuery {
        max_instance_count: 2,
        instance_id_prefix: Some("page-".to_owned()),
        ..Default::default()
    };
    let (mut sizes, mut seen, mut tokens) = (Vec::new(), Vec::new(), Vec::<String>::new());
    for _ in 0..10 {
        let page = call!(store.query_instances(query.clone()).await);
        sizes.push(page.items.len());
        ensure!(
            page.items.iter().all(|s| s.input.is_none()),
            "a query without fetchInputsAndOutputs returned inputs"
        );
        seen.extend(page.items.into_iter().map(|s| s.instance_id));
        let Some(token) = page.continuation_token else {
            break;
        };
        ensure!(
            !token.is_empty() && token != "0" && !tokens.contains(&token),
            "continuation token {token:?} after pages {sizes:?} (earlier tokens {tokens:?}) \
             would end or loop the SDK's paging"
        );
        tokens.push(token.clone());
        query.continuation_token = Some(token);
    }
    ensure_eq!(
        sizes,
        [2, 2, 1],
        "page sizes of 5 instances with maxInstanceCount 2"
    );
    ensure_eq!(seen, ids, "instances across the pages, in creation order");

    let other = call!(
        store
            .query_instances(InstanceQuery {
                instance_id_prefix: Some("other-".to_owned()),
                fetch_inputs_and_outputs: true,
                ..Default::default()
            })
            .await
    );
    ensure_eq!(
        other
            .items
            .iter()
            .map(|s| (s.instance_id.as_str(), s.input.as_deref()))
            .collect::<Vec<_>>(),
        [("other-1", Some("\"input\""))],
        "query with prefix \"other-\" and payloads"
    );
    ensure_eq!(
        other.continuation_token,
        None,
        "continuation token of a single page"
    );

    let everything = call!(store.query_instances(InstanceQuery::default()).await);
    ensure_eq!(
        everything.items.len(),
        6,
        "instances returned by an unfiltered, unlimited query"
    );
    ensure_eq!(
        everything.continuation_token,
        None,
        "continuation token of an unlimited query"
    );

    for id in ["page-2", "page-4"] {
        call!(store.terminate_instance(id, None, false).await);
    }
    let terminated = call!(
        store
            .query_instances(InstanceQuery {
                runtime_status: vec![OrchestrationStatus::Terminated as i32],
                ..Default::default()
            })
            .await
    );
    ensure_eq!(
        terminated
            .items
            .iter()
            .map(|s| s.instance_id.as_str())
            .collect::<Vec<_>>(),
        ["page-2", "page-4"],
        "query filtered on Terminated"
    );
    Ok(())
}

/// Proves **I8**: `list_instance_ids` lists terminal instances only, in pages whose key contains
/// the last id returned; the last page has no key.
pub async fn list_terminal_instance_ids(t: &Subject) -> Outcome {
    let store = t.store();
    for i in 1..=4 {
        create(store, &format!("list-{i}")).await?;
    }
    for i in 1..=3 {
        call!(
            store
                .terminate_instance(&format!("list-{i}"), None, false)
                .await
        );
    }
    let first = call!(
        store
            .list_instance_ids(ListInstanceIdsRequest {
                page_size: 2,
                ..Default::default()
            })
            .await
    );
    ensure_eq!(first.items.len(), 2, "ids on the first page of size 2");
    let Some(key) = first.continuation_token.clone() else {
        return Err(failure!(
            "the first of two pages has no lastInstanceKey (got {:?})",
            first.items
        ));
    };
    let last = first.items.last().cloned().unwrap_or_default();
    ensure!(
        key.contains(&last),
        "lastInstanceKey {key:?} does not contain the last id returned ({last:?})"
    );
    let second = call!(
        store
            .list_instance_ids(ListInstanceIdsRequest {
                page_size: 2,
                last_instance_key: Some(key),
                ..Default::default()
            })
            .await
    );
    ensure_eq!(second.items.len(), 1, "ids on the last page");
    ensure_eq!(
        second.continuation_token,
        None,
        "lastInstanceKey of the last page"
    );
    let mut all: Vec<String> = first.items.into_iter().chain(second.items).collect();
    all.sort();
    ensure_eq!(
        all,
        ["list-1", "list-2", "list-3"],
        "terminal instance ids across the pages"
    );

    let completed = call!(
        store
            .list_instance_ids(ListInstanceIdsRequest {
                runtime_status: vec![OrchestrationStatus::Completed as i32],
                ..Default::default()
            })
            .await
    );
    ensure_eq!(
        completed.items,
        Vec::<String>::new(),
        "ids filtered on Completed"
    );
    ensure_eq!(
        completed.continuation_token,
        None,
        "lastInstanceKey of an empty listing"
    );
    Ok(())
}

/// Runs a parent that starts one child; both complete. Returns when both are `Completed`.
async fn parent_and_child(store: &dyn Store, w: WorkerId, parent: &str, child_id: &str) -> Outcome {
    let first = start(store, w, parent).await?;
    answer(store, &first, vec![child(1, child_id, "Child")]).await?;
    let child_item = next_orchestration(store, w, child_id).await?;
    answer(
        store,
        &child_item,
        vec![finish(1, OrchestrationStatus::Completed, None)],
    )
    .await?;
    let second = next_orchestration(store, w, parent).await?;
    answer(
        store,
        &second,
        vec![finish(2, OrchestrationStatus::Completed, None)],
    )
    .await?;
    expect_status(store, child_id, RuntimeStatus::Completed, "the child").await?;
    expect_status(store, parent, RuntimeStatus::Completed, "the parent").await?;
    Ok(())
}

/// Proves **I7** ("`recursive` removes their children too, but never an instance that merely reuses
/// a child's id"): a recursive purge removes a parent and its child; after a child was purged on
/// its own and its id reused by an unrelated instance, a recursive purge of the parent leaves that
/// instance alone.
pub async fn recursive_purge_removes_children_only(t: &Subject) -> Outcome {
    let store = t.store();
    let w = worker(store).await?;
    parent_and_child(store, w, "rp-parent", "rp-child").await?;
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance("rp-parent".to_owned()), true)
            .await
    );
    ensure_eq!(removed, 2, "a recursive purge of a parent with one child");
    ensure!(
        call!(store.get_instance("rp-child", false).await).is_none(),
        "the child survived its parent's recursive purge"
    );

    parent_and_child(store, w, "rp-parent-2", "rp-child-2").await?;
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance("rp-child-2".to_owned()), false)
            .await
    );
    ensure_eq!(removed, 1, "purging the child alone");
    create(store, "rp-child-2").await?;
    call!(store.terminate_instance("rp-child-2", None, false).await);
    let removed = call!(
        store
            .purge_instances(PurgeTarget::Instance("rp-parent-2".to_owned()), true)
            .await
    );
    ensure_eq!(
        removed,
        1,
        "a recursive purge whose child id now names an unrelated instance"
    );
    ensure!(
        call!(store.get_instance("rp-child-2", false).await).is_some(),
        "an unrelated instance reusing a purged child's id was purged with the parent"
    );
    Ok(())
}
