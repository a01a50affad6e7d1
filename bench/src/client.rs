//! The client side of a run: starting instances (open loop: all at once through a few
//! concurrent callers; closed loop: one at a time, each awaited with WaitForInstanceCompletion),
//! raising the `events` workload's event, waiting for the workers to finish, and checking every
//! instance's final state against the exact expected one.

use crate::conn::Client;
use crate::run::Run;
use crate::workload::{EVENT_NAME, Expected};
use dt_proto::{
    CreateInstanceRequest, GetInstanceRequest, OrchestrationState, OrchestrationStatus,
    RaiseEventRequest, StreamInstanceHistoryRequest,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt;

/// How long one closed-loop or waiter WaitForInstanceCompletion may take.
pub(crate) const WAIT_DEADLINE: Duration = Duration::from_secs(120);

/// Starts instance `i` (and raises its event, if the workload has one).
pub(crate) async fn start(client: &mut Client, run: &Run, i: usize) -> Result<(), String> {
    let id = run.id(i);
    run.mark_started(i);
    client
        .start_instance(CreateInstanceRequest {
            instance_id: id.clone(),
            name: run.shape.name().to_owned(),
            input: Some(run.shape.input(i as u64)),
            ..Default::default()
        })
        .await
        .map_err(|s| format!("{id}: StartInstance failed: {s}"))?;
    if let Some(input) = run.shape.event_input(i as u64) {
        client
            .raise_event(RaiseEventRequest {
                instance_id: id.clone(),
                name: EVENT_NAME.to_owned(),
                input: Some(input),
            })
            .await
            .map_err(|s| format!("{id}: RaiseEvent failed: {s}"))?;
    }
    Ok(())
}

/// Open loop: starts all instances through `clients.len() × per_client` concurrent callers.
pub(crate) async fn start_all(clients: &[Client], run: &Arc<Run>, per_client: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in clients {
        for _ in 0..per_client.max(1) {
            let (mut client, run, next) = (client.clone(), Arc::clone(run), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= run.n {
                        break;
                    }
                    if let Err(e) = start(&mut client, &run, i).await {
                        run.error(e);
                    }
                }
            }));
        }
    }
    for task in tasks {
        if let Err(e) = task.await {
            run.error(format!("a starter task failed: {e}"));
        }
    }
}

/// Waits until every instance is done, or until nothing has finished for `stall`.
pub(crate) async fn wait_done(run: &Run, stall: Duration) {
    let (mut last, mut since) = (run.done(), Instant::now());
    while run.done() < run.n {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = run.done();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > stall {
            run.error(format!(
                "stalled: {now}/{} done, nothing finished for {stall:?}",
                run.n
            ));
            return;
        }
    }
}

/// Closed loop: one instance at a time, start → WaitForInstanceCompletion, checked at once.
pub(crate) async fn closed_loop(client: &mut Client, run: &Run) {
    for i in 0..run.n {
        if let Err(e) = start(client, run, i).await {
            run.error(e);
            continue;
        }
        match wait_completion(client, &run.id(i)).await {
            Ok(state) => {
                run.mark_finished(i);
                check(run, i, Some(&state));
            }
            Err(e) => run.error(e),
        }
    }
}

/// WaitForInstanceCompletion with payloads, bounded by [`WAIT_DEADLINE`].
pub(crate) async fn wait_completion(
    client: &mut Client,
    id: &str,
) -> Result<OrchestrationState, String> {
    let mut request = tonic::Request::new(GetInstanceRequest {
        instance_id: id.to_owned(),
        get_inputs_and_outputs: true,
    });
    request.set_timeout(WAIT_DEADLINE);
    let response = client
        .wait_for_instance_completion(request)
        .await
        .map_err(|s| format!("{id}: WaitForInstanceCompletion failed: {s}"))?
        .into_inner();
    response
        .orchestration_state
        .filter(|_| response.exists)
        .ok_or_else(|| format!("{id}: does not exist"))
}

/// Reads every instance with GetInstance (`per_client` calls in flight per client) and
/// records an error for each one not in its expected state.
pub(crate) async fn verify_all(clients: &[Client], run: &Arc<Run>, per_client: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for client in clients {
        for _ in 0..per_client.max(1) {
            let (mut client, run, next) = (client.clone(), Arc::clone(run), Arc::clone(&next));
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= run.n {
                        break;
                    }
                    let id = run.id(i);
                    let got = client
                        .get_instance(GetInstanceRequest {
                            instance_id: id.clone(),
                            get_inputs_and_outputs: true,
                        })
                        .await;
                    match got {
                        Ok(r) => {
                            let r = r.into_inner();
                            check(&run, i, r.orchestration_state.as_ref().filter(|_| r.exists));
                        }
                        Err(s) => run.error(format!("{id}: GetInstance failed: {s}")),
                    }
                }
            }));
        }
    }
    for task in tasks {
        if let Err(e) = task.await {
            run.error(format!("a verifier task failed: {e}"));
        }
    }
}

/// Records a wrong result unless instance `i` is in its expected final state.
pub(crate) fn check(run: &Run, i: usize, state: Option<&OrchestrationState>) {
    let id = run.id(i);
    let Some(state) = state else {
        return run.wrong(format!("{id}: does not exist"));
    };
    let got = Expected {
        status: OrchestrationStatus::try_from(state.orchestration_status)
            .unwrap_or(OrchestrationStatus::Canceled),
        output: state.output.clone(),
    };
    match run.expected(i) {
        Ok(wanted) if got == wanted => {}
        Ok(wanted) => run.wrong(format!("{id}: expected {wanted:?}, got {got:?}")),
        Err(e) => run.wrong(format!("{id}: {e} (got {got:?})")),
    }
}

/// The number of committed history events of instance `i` (StreamInstanceHistory).
pub(crate) async fn history_len(client: &mut Client, run: &Run, i: usize) -> Option<u64> {
    let mut stream = client
        .stream_instance_history(StreamInstanceHistoryRequest {
            instance_id: run.id(i),
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    let mut count = 0u64;
    while let Some(chunk) = stream.next().await {
        count += chunk.ok()?.events.len() as u64;
    }
    Some(count)
}
