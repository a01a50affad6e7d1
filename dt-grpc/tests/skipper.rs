//! The skipper's rules on a virtual clock over a manual one (no sleeps: each test calls
//! `step` and reads the clock): no demand, a hold, or work in flight means no skip; an idle
//! store with demand jumps to the next timer; the budget stops skipping and fails waits.

use chrono::{DateTime, TimeDelta, Utc};
use dt_core::{NewInstance, to_timestamp};
use dt_grpc::skipping::{Step, TimeSkipping};
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::work_item::Request;
use dt_proto::*;
use dt_store::{
    Clock, CreateInstance, ManualClock, MemoryStore, Store, StoreConfig, VirtualClock, WorkerId,
};
use std::sync::Arc;

type BoxError = Box<dyn std::error::Error>;
type TestResult = Result<(), BoxError>;

struct Rig {
    store: Arc<MemoryStore>,
    clock: Arc<VirtualClock>,
    time: Arc<TimeSkipping>,
    worker: WorkerId,
}

async fn rig(budget: u32) -> Result<Rig, BoxError> {
    let start = DateTime::from_timestamp(1_893_456_000, 0).unwrap_or(DateTime::UNIX_EPOCH);
    let clock = Arc::new(VirtualClock::over(Arc::new(ManualClock::new(start))));
    let store = Arc::new(MemoryStore::with_clock(
        StoreConfig::default(),
        clock.clone(),
    ));
    let time = TimeSkipping::with_budget(store.clone(), clock.clone(), true, budget);
    let worker = store
        .connect_worker(dt_core::WorkFilters::all().into())
        .await?;
    Ok(Rig {
        store,
        clock,
        time,
        worker,
    })
}

fn timer(id: i32, at: DateTime<Utc>) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::CreateTimer(CreateTimerAction {
            fire_at: Some(to_timestamp(at)),
        })),
    }
}

impl Rig {
    /// Creates an instance and takes its first work item (still leased); returns its token.
    async fn start(&self, id: &str) -> Result<String, BoxError> {
        self.store
            .create_instance(CreateInstance {
                spec: NewInstance {
                    id: id.to_owned(),
                    name: "Skip".to_owned(),
                    ..Default::default()
                },
                ..Default::default()
            })
            .await?;
        self.take(id).await
    }

    /// Takes the next orchestration work item, which must be `id`'s; returns its token.
    async fn take(&self, id: &str) -> Result<String, BoxError> {
        let item = self.store.try_next_work_item(self.worker).await?;
        match item.map(dt_store::WireWorkItem::into_proto) {
            Some(WorkItem {
                request: Some(Request::OrchestratorRequest(r)),
                completion_token,
                ..
            }) if r.instance_id == id => Ok(completion_token),
            other => Err(format!("expected a work item for {id}, got {other:?}").into()),
        }
    }

    async fn answer(
        &self,
        id: &str,
        token: String,
        actions: Vec<OrchestratorAction>,
    ) -> TestResult {
        self.store
            .complete_orchestration(OrchestratorResponse {
                instance_id: id.to_owned(),
                completion_token: token,
                actions,
                ..Default::default()
            })
            .await?;
        Ok(())
    }
}

/// Whether a future is ready at once.
async fn ready(f: impl std::future::Future<Output = ()>) -> bool {
    tokio::select! {
        biased;
        () = f => true,
        () = std::future::ready(()) => false,
    }
}

#[tokio::test]
async fn an_idle_store_with_demand_jumps_to_the_next_timer() -> TestResult {
    let r = rig(10).await?;
    let t0 = r.clock.now();
    let token = r.start("a").await?;
    r.answer("a", token, vec![timer(1, t0 + TimeDelta::days(3))])
        .await?;

    // No demand: no skip, however idle.
    assert_eq!(r.time.step().await?, Step::NoDemand);
    assert_eq!(r.clock.now(), t0);

    let demand = r.time.demand();
    assert_eq!(r.time.step().await?, Step::Skipped(t0 + TimeDelta::days(3)));
    assert_eq!(r.clock.now(), t0 + TimeDelta::days(3));
    // The fired timer's turn is queued: blocked until a worker has answered it.
    assert_eq!(r.time.step().await?, Step::Blocked);
    let token = r.take("a").await?;
    assert_eq!(r.time.step().await?, Step::Blocked, "leased");
    r.answer("a", token, Vec::new()).await?;
    assert_eq!(r.time.step().await?, Step::NoTarget);
    drop(demand);
    assert_eq!(r.time.step().await?, Step::NoDemand);
    Ok(())
}

#[tokio::test]
async fn a_hold_stops_automatic_skips_until_released() -> TestResult {
    let r = rig(10).await?;
    let t0 = r.clock.now();
    let token = r.start("a").await?;
    r.answer("a", token, vec![timer(1, t0 + TimeDelta::hours(1))])
        .await?;
    let _demand = r.time.demand();
    r.time.lock()?;
    r.time.lock()?;
    assert_eq!(r.time.step().await?, Step::Held);
    r.time.unlock()?;
    assert_eq!(r.time.step().await?, Step::Held, "one hold left");
    assert_eq!(r.clock.now(), t0);
    r.time.unlock()?;
    assert!(r.time.unlock().is_err(), "an unbalanced unlock is refused");
    assert_eq!(
        r.time.step().await?,
        Step::Skipped(t0 + TimeDelta::hours(1))
    );
    Ok(())
}

#[tokio::test]
async fn a_leased_item_blocks_skips_and_survives_them() -> TestResult {
    let r = rig(10).await?;
    let t0 = r.clock.now();
    let token = r.start("a").await?;
    r.answer("a", token, vec![timer(1, t0 + TimeDelta::days(30))])
        .await?;
    let held = r.start("b").await?;
    let _demand = r.time.demand();
    assert_eq!(r.time.step().await?, Step::Blocked);
    assert_eq!(r.clock.now(), t0);
    let status = r.time.status().await?;
    assert_eq!(status.view.blockers.len(), 1);
    assert_eq!(status.view.blockers[0].id, "b");
    assert_eq!(status.view.next_target, Some(t0 + TimeDelta::days(30)));

    // An explicit skip past the lease: the lease (300 s of real time) is still good.
    r.time.lock()?;
    assert!(r.store.advance_clock_to(t0 + TimeDelta::days(30)).await?);
    r.time.unlock()?;
    r.store.run_due().await?;
    r.answer("b", held, Vec::new()).await?;
    let state = r.store.get_instance("b", false).await?.ok_or("b is gone")?;
    assert_eq!(
        state.orchestration_status,
        OrchestrationStatus::Running as i32,
        "the answer under the old lease was applied"
    );
    Ok(())
}

#[tokio::test]
async fn the_budget_stops_skipping_and_fails_waits_until_a_new_episode() -> TestResult {
    let r = rig(2).await?;
    let t0 = r.clock.now();
    let token = r.start("loop").await?;
    let hours = |h| t0 + TimeDelta::hours(h);
    r.answer(
        "loop",
        token,
        vec![timer(1, hours(1)), timer(2, hours(2)), timer(3, hours(3))],
    )
    .await?;
    let demand = r.time.demand();
    for h in 1..=2 {
        assert_eq!(r.time.step().await?, Step::Skipped(hours(h)));
        let token = r.take("loop").await?;
        r.answer("loop", token, Vec::new()).await?;
    }
    assert!(!ready(r.time.budget_exhausted()).await);
    assert_eq!(r.time.step().await?, Step::BudgetExhausted);
    assert_eq!(r.clock.now(), hours(2));
    assert!(ready(r.time.budget_exhausted()).await, "waits see it");
    let status = r.time.status().await?;
    assert!(status.budget_exhausted);
    assert_eq!(status.budget_left, 0);

    // Once nobody waits, the next wait starts afresh.
    drop(demand);
    let _demand = r.time.demand();
    assert!(!ready(r.time.budget_exhausted()).await);
    assert_eq!(r.time.step().await?, Step::Skipped(hours(3)));
    Ok(())
}

#[tokio::test]
async fn skipping_off_refuses_skips_and_locks() -> TestResult {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(StoreConfig::default()));
    let time = TimeSkipping::off(store);
    let _demand = time.demand();
    assert_eq!(time.step().await?, Step::Off);
    assert!(time.lock().is_err());
    assert!(time.skip(std::time::Duration::from_secs(1)).await.is_err());
    let status = time.status().await?;
    assert!(!status.enabled);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_blocked_skipper_sleeps_until_the_store_changes() -> TestResult {
    let r = rig(10).await?;
    let t0 = r.clock.now();
    let token = r.start("a").await?;
    r.answer("a", token, vec![timer(1, t0 + TimeDelta::days(30))])
        .await?;
    let held = r.start("b").await?;
    let _demand = r.time.demand();
    let skipper = tokio::spawn(r.time.clone().run(std::future::pending()));
    // Ten seconds of (paused, auto-advancing) tokio time while "b" is leased: a polling
    // skipper would look thousands of times.
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let looks = r.time.status().await?.looks;
    assert!(
        (1..=3).contains(&looks),
        "a blocked skipper looked {looks} times in 10 s without a change"
    );
    assert_eq!(r.clock.now(), t0, "no skip while 'b' is leased");
    // The answer that unblocks the store wakes it, and it skips to the timer.
    r.answer("b", held, Vec::new()).await?;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while r.clock.now() < t0 + TimeDelta::days(30) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the skipper did not wake after the store changed"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    skipper.abort();
    Ok(())
}
