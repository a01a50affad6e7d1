//! What the engine hands a durable store's journal, seen through a journal that records it:
//! each turn writes only its own new history events, appended after the ones written before
//! (a turn never rewrites the history), and a new execution replaces them.

use dt_core::{NewInstance, WorkFilters};
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::*;
use dt_store::journal::{Changes, HistoryWrite, Journal, Snapshot, Ticket};
use dt_store::{ManualClock, MemoryStore, Store, StoreConfig, StoreResult};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Recorder(Mutex<Vec<Changes>>);

impl Journal for Recorder {
    fn write(&self, changes: Changes) -> Ticket {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(changes);
        Ticket::ready()
    }
    fn settled(&self) -> Ticket {
        Ticket::ready()
    }
    fn needs_load(&self) -> bool {
        false
    }
    fn load(&self) -> StoreResult<Snapshot> {
        Ok(Snapshot::default())
    }
}

impl Recorder {
    /// The history writes of instance `id` since the last call, as (replaced?, from, count).
    fn history_of(&self, id: &str) -> Vec<(bool, usize, usize)> {
        let mut writes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        writes
            .drain(..)
            .flat_map(|c| c.instances)
            .filter(|i| i.id == id)
            .filter_map(|i| i.row)
            .map(|row| match row.history {
                HistoryWrite::Append { from, events } => (false, from, events.len()),
                HistoryWrite::Replace(events) => (true, 0, events.len()),
            })
            .collect()
    }
}

fn action(id: i32, kind: OrchestratorActionType) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(kind),
    }
}

async fn turn(
    store: &MemoryStore,
    worker: dt_store::WorkerId,
    actions: Vec<OrchestratorAction>,
) -> StoreResult<usize> {
    let item = store
        .try_next_work_item(worker)
        .await?
        .expect("an orchestration work item")
        .into_proto();
    let Some(work_item::Request::OrchestratorRequest(req)) = item.request else {
        panic!("expected an orchestration work item");
    };
    store
        .complete_orchestration(OrchestratorResponse {
            instance_id: req.instance_id,
            completion_token: item.completion_token,
            actions,
            ..Default::default()
        })
        .await?;
    Ok(req.past_events.len())
}

#[tokio::test]
async fn a_turn_appends_only_its_new_events_and_a_new_execution_replaces_them() -> StoreResult<()> {
    let recorder = Arc::new(Recorder::default());
    let clock = Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH));
    let store = MemoryStore::durable(StoreConfig::default(), clock, recorder.clone())?;
    let worker = store.connect_worker(WorkFilters::all().into()).await?;
    let spec = NewInstance {
        id: "i".to_owned(),
        name: "o".to_owned(),
        ..Default::default()
    };
    store.create_instance(spec.into()).await?;
    assert_eq!(recorder.history_of("i"), [(true, 0, 0)], "a new instance");

    let schedule = ScheduleTaskAction {
        name: "a".to_owned(),
        ..Default::default()
    };
    turn(
        &store,
        worker,
        vec![action(0, OrchestratorActionType::ScheduleTask(schedule))],
    )
    .await?;
    let first = recorder.history_of("i");
    let [(false, 0, written)] = first[..] else {
        panic!("the first turn appends from 0: {first:?}");
    };
    let item = store
        .try_next_work_item(worker)
        .await?
        .expect("the activity")
        .into_proto();
    store
        .complete_activity(ActivityResponse {
            instance_id: "i".to_owned(),
            task_id: 0,
            result: Some("1".to_owned()),
            completion_token: item.completion_token,
            ..Default::default()
        })
        .await?;
    // The result waits in the inbox: the record changes, the history does not.
    assert_eq!(recorder.history_of("i"), [(false, written, 0)]);
    let again = CompleteOrchestrationAction {
        orchestration_status: OrchestrationStatus::ContinuedAsNew as i32,
        ..Default::default()
    };
    let past = turn(
        &store,
        worker,
        vec![action(
            1,
            OrchestratorActionType::CompleteOrchestration(again),
        )],
    )
    .await?;
    assert_eq!(
        past, written,
        "the second turn saw the first turn's history"
    );
    let second = recorder.history_of("i");
    assert!(
        matches!(second[..], [(true, 0, 0)]),
        "continuing as new replaces the history with the new execution's (empty): {second:?}"
    );
    let finish = CompleteOrchestrationAction {
        orchestration_status: OrchestrationStatus::Completed as i32,
        ..Default::default()
    };
    turn(
        &store,
        worker,
        vec![action(
            0,
            OrchestratorActionType::CompleteOrchestration(finish),
        )],
    )
    .await?;
    let last = recorder.history_of("i");
    let history = store.instance_history("i", None).await?;
    assert_eq!(
        last,
        [(false, 0, history.len())],
        "the new execution's first turn appends all of its events once"
    );
    Ok(())
}
