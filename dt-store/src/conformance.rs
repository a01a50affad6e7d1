//! Conformance checks every [`Store`] implementation must pass.
//!
//! Each check is a `pub async fn` that takes a fresh, empty store, drives it through one part of
//! the contract written on [`Store`] and returns `Ok(())` or a [`ConformanceFailure`] naming the
//! file, line and expectation that did not hold. The checks play the worker themselves:
//! they connect with [`WorkFilters::all`] (or explicit filters), fetch work items with
//! [`Store::next_work_item`] and answer them with `complete_*` / `abandon_*` exactly as the
//! gRPC layer would. Every wait is bounded (a few seconds for something that must happen,
//! [`QUIET`] for something that must not), so a broken store fails instead of hanging, and
//! nothing sleeps for a fixed time waiting for state: time-driven behaviour is waited for by
//! calling [`Store::run_due`] in a loop bounded by a deadline.
//!
//! # What the store under test must be configured with
//! - the system clock (timers are created relative to `chrono::Utc::now()`);
//! - `lease_duration` of about 200 ms and `abandon_delay` of at most ~100 ms
//!   (redelivery is awaited for at most [`DRIVE_DEADLINE`]).
//!
//! # Running the suite against a new store
//! In the store's tests, one line writes a test per check:
//! `dt_store::conformance_tests!(my_store());`. Or run them all in one go:
//! ```no_run
//! use dt_store::{MemoryStore, Store, StoreConfig, conformance};
//! use std::{sync::Arc, time::Duration};
//!
//! # async fn demo() {
//! let make = || -> Arc<dyn Store> {
//!     Arc::new(MemoryStore::new(StoreConfig {
//!         lease_duration: Duration::from_millis(200),
//!         abandon_delay: Duration::from_millis(50),
//!         ..Default::default()
//!     }))
//! };
//! for (name, result) in conformance::run_all(make).await {
//!     assert!(result.is_ok(), "{name}: {result:?}");
//! }
//! # }
//! ```
//! A test file can instead call each check by name (one `#[tokio::test]` per check, see
//! `dt-store/tests/conformance_memory.rs`) and compare its list with [`CHECKS`].

use crate::api::{CreateInstance, PurgeTarget, Store, WaitCondition, WorkerId};
use crate::error::StoreError;
use chrono::{DateTime, TimeDelta, Utc};
use dt_core::{NewInstance, RuntimeStatus, WorkFilters, from_timestamp, to_timestamp};
use dt_proto::history_event::EventType;
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::work_item::Request;
use dt_proto::*;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// How long a check waits for something that must happen (a work item, a waiter).
pub const ITEM_WAIT: Duration = Duration::from_secs(2);
/// How long a check watches for something that must not happen (an unexpected work item).
pub const QUIET: Duration = Duration::from_millis(100);
/// How long a check keeps calling `run_due` while waiting for a timer, an abandon delay or a
/// lease expiry to bring work back.
pub const DRIVE_DEADLINE: Duration = Duration::from_secs(3);
/// The longest one check may take in [`run_all`].
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// Step between two `run_due` calls while driving the timeline.
const POLL: Duration = Duration::from_millis(10);
/// Tolerance when comparing store timestamps with the test's own clock.
const CLOCK_SLACK: TimeDelta = TimeDelta::seconds(5);

/// A conformance check that did not hold: where, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConformanceFailure {
    message: String,
}

impl ConformanceFailure {
    /// A failure with a free-form message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// A failure located at `file:line`.
    pub fn at(file: &str, line: u32, message: impl fmt::Display) -> Self {
        Self {
            message: format!("{file}:{line}: {message}"),
        }
    }

    /// The message, starting with the location of the failed expectation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConformanceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConformanceFailure {}

/// What a check returns.
pub type Outcome<T = ()> = Result<T, ConformanceFailure>;

/// The future a check returns, boxed so checks can be listed.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One named check of the suite.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// The name of the check's function in this module.
    pub name: &'static str,
    /// Runs the check against a fresh, empty store.
    pub run: for<'a> fn(&'a dyn Store) -> CheckFuture<'a>,
}

/// Builds a failure located at the invocation.
macro_rules! failure {
    ($($arg:tt)+) => {
        ConformanceFailure::at(file!(), line!(), format_args!($($arg)+))
    };
}

/// Fails the check unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !($cond) {
            return Err(failure!($($arg)+));
        }
    };
}

/// Fails the check unless `actual == expected`, showing both.
macro_rules! ensure_eq {
    ($actual:expr, $expected:expr, $($arg:tt)+) => {
        match (&$actual, &$expected) {
            (actual, expected) => {
                if actual != expected {
                    return Err(failure!(
                        "{}: got {:?}, expected {:?}",
                        format_args!($($arg)+),
                        actual,
                        expected
                    ));
                }
            }
        }
    };
}

/// Unwraps a store call's result, failing the check with the call and error otherwise.
macro_rules! call {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(err) => return Err(failure!("`{}` failed: {:?}", stringify!($e), err)),
        }
    };
}

/// The one list of checks: calls `$then!` with it (after `$prefix`), so the [`CHECKS`] table
/// and [`conformance_tests!`](crate::conformance_tests) are built from the same names.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_conformance_checks {
    ($then:ident; $($prefix:tt)*) => {
        $crate::$then!(
            $($prefix)*
            create_and_get,
            replace_drops_in_flight_work,
            activity_round_trip,
            one_orchestration_in_flight,
            disconnect_redelivers,
            duplicate_completions_apply_once,
            abandon_redelivers,
            lease_expiry_redelivers,
            timers_fire_when_due,
            timer_of_previous_execution_dropped,
            activity_of_previous_execution_dropped,
            malformed_answer_fails_orchestration,
            terminate_instances,
            raise_event_unknown_and_terminal,
            suspend_and_resume,
            restart_instances,
            purge_instances,
            query_paging,
            list_terminal_instance_ids,
            work_filters,
            wait_for_instance_is_cancel_safe,
            reset_clears_everything,
            tokens_unique_across_reset,
            rewind_failed_instance,
            terminate_now_skips_the_worker,
            partial_chunks_apply_once,
            entity_signal_runs_and_commits_state,
            entity_one_batch_in_flight_and_failed_batch_redelivered,
            entity_lock_excludes_other_senders,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_check_table {
    ($($name:ident,)+) => {
        /// Every check of the suite, in the order [`run_all`] runs them.
        pub const CHECKS: &[Check] = &[
            $(Check {
                name: stringify!($name),
                run: |store| Box::pin($name(store)),
            }),+
        ];
    };
}

crate::__with_conformance_checks!(__conformance_check_table;);

/// Expands to one `#[tokio::test]` per check, each against a fresh store from `$make` (an
/// expression giving a value that derefs to a `Store`), so a new store inherits the whole suite
/// with one line and a failure names the check. The calling crate needs tokio (with `macros`
/// and `rt`) among its dev-dependencies.
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__with_conformance_checks!(__conformance_test_fns; $make;);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test_fns {
    ($make:expr; $($name:ident,)+) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make;
                $crate::conformance::assert_check(stringify!($name), $crate::conformance::$name(&store))
                    .await;
            }
        )+
    };
}

/// Runs one check bounded by [`CHECK_TIMEOUT`] and panics with its failure: the body of each
/// test [`conformance_tests!`](crate::conformance_tests) writes.
pub async fn assert_check(name: &str, check: impl Future<Output = Outcome>) {
    match timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("conformance check `{name}` failed: {failure}"),
        Err(_) => panic!("conformance check `{name}` did not finish within {CHECK_TIMEOUT:?}"),
    }
}

/// Runs every check in [`CHECKS`], each against a fresh store from `make` and bounded by
/// [`CHECK_TIMEOUT`], and returns each check's name with its outcome.
pub async fn run_all(make: impl Fn() -> Arc<dyn Store>) -> Vec<(&'static str, Outcome)> {
    let mut results = Vec::with_capacity(CHECKS.len());
    for check in CHECKS {
        let store = make();
        let result = match timeout(CHECK_TIMEOUT, (check.run)(store.as_ref())).await {
            Ok(result) => result,
            Err(_) => Err(ConformanceFailure::new(format!(
                "{} did not finish within {CHECK_TIMEOUT:?}",
                check.name
            ))),
        };
        results.push((check.name, result));
    }
    results
}

// ---------------------------------------------------------------------------------------------
// Event names, as on the wire.

const OS: &str = "orchestratorStarted";
const OC: &str = "orchestratorCompleted";
const ES: &str = "executionStarted";
const EC: &str = "executionCompleted";
const ET: &str = "executionTerminated";
const SUSPENDED: &str = "executionSuspended";
const RESUMED: &str = "executionResumed";
const TS: &str = "taskScheduled";
const TC: &str = "taskCompleted";
const TCR: &str = "timerCreated";
const TF: &str = "timerFired";
const ER: &str = "eventRaised";

fn kind(event: &HistoryEvent) -> &'static str {
    match &event.event_type {
        None => "<no eventType>",
        Some(EventType::ExecutionStarted(_)) => ES,
        Some(EventType::ExecutionCompleted(_)) => EC,
        Some(EventType::ExecutionTerminated(_)) => ET,
        Some(EventType::TaskScheduled(_)) => TS,
        Some(EventType::TaskCompleted(_)) => TC,
        Some(EventType::TaskFailed(_)) => "taskFailed",
        Some(EventType::SubOrchestrationInstanceCreated(_)) => "subOrchestrationInstanceCreated",
        Some(EventType::SubOrchestrationInstanceCompleted(_)) => {
            "subOrchestrationInstanceCompleted"
        }
        Some(EventType::SubOrchestrationInstanceFailed(_)) => "subOrchestrationInstanceFailed",
        Some(EventType::TimerCreated(_)) => TCR,
        Some(EventType::TimerFired(_)) => TF,
        Some(EventType::OrchestratorStarted(_)) => OS,
        Some(EventType::OrchestratorCompleted(_)) => OC,
        Some(EventType::EventSent(_)) => "eventSent",
        Some(EventType::EventRaised(_)) => ER,
        Some(EventType::ExecutionSuspended(_)) => SUSPENDED,
        Some(EventType::ExecutionResumed(_)) => RESUMED,
        Some(EventType::ExecutionRewound(_)) => "executionRewound",
        Some(_) => "<other>",
    }
}

fn kinds(events: &[HistoryEvent]) -> Vec<&'static str> {
    events.iter().map(kind).collect()
}

fn count(events: &[HistoryEvent], wanted: &str) -> usize {
    events.iter().filter(|e| kind(e) == wanted).count()
}

fn timers_fired(events: &[HistoryEvent]) -> Vec<&TimerFiredEvent> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::TimerFired(t)) => Some(t),
            _ => None,
        })
        .collect()
}

fn tasks_completed(events: &[HistoryEvent]) -> Vec<&TaskCompletedEvent> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::TaskCompleted(t)) => Some(t),
            _ => None,
        })
        .collect()
}

fn events_raised(events: &[HistoryEvent]) -> Vec<&EventRaisedEvent> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::EventRaised(r)) => Some(r),
            _ => None,
        })
        .collect()
}

fn execution_started(events: &[HistoryEvent]) -> Option<&ExecutionStartedEvent> {
    events.iter().find_map(|e| match &e.event_type {
        Some(EventType::ExecutionStarted(s)) => Some(s),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// Playing the worker.

/// An orchestration work item and its completion token.
struct Orch {
    req: OrchestratorRequest,
    token: String,
}

/// An activity work item and its completion token.
struct Act {
    req: ActivityRequest,
    token: String,
}

impl Act {
    fn instance_id(&self) -> &str {
        self.req
            .orchestration_instance
            .as_ref()
            .map_or("", |i| i.instance_id.as_str())
    }
}

fn describe(item: &WorkItem) -> String {
    match &item.request {
        Some(Request::OrchestratorRequest(r)) => format!(
            "orchestration work item for '{}' with newEvents {:?}",
            r.instance_id,
            kinds(&r.new_events)
        ),
        Some(Request::ActivityRequest(a)) => format!(
            "activity work item '{}' (taskId {}) for {:?}",
            a.name,
            a.task_id,
            a.orchestration_instance.as_ref().map(|i| &i.instance_id)
        ),
        Some(Request::EntityRequestV2(e)) => format!(
            "entityRequestV2 work item for '{}' with operations {:?}",
            e.instance_id,
            op_ids(e)
        ),
        Some(Request::EntityRequest(e)) => format!(
            "entityRequest (V1) work item for '{}' with {} operations",
            e.instance_id,
            e.operations.len()
        ),
        Some(_) => "a work item that is neither orchestration, activity nor entity".to_owned(),
        None => "a work item without a request".to_owned(),
    }
}

async fn worker(store: &dyn Store) -> Outcome<WorkerId> {
    Ok(call!(store.connect_worker(WorkFilters::all().into()).await))
}

/// A worker that accepts only the named orchestrator and the named activity.
fn only(orchestration: &str, activity: &str) -> WorkFilters {
    WorkFilters::from(Some(WorkItemFilters {
        orchestrations: vec![OrchestrationFilter {
            name: orchestration.to_owned(),
            versions: Vec::new(),
        }],
        activities: vec![ActivityFilter {
            name: activity.to_owned(),
            versions: Vec::new(),
        }],
        entities: Vec::new(),
    }))
}

fn checked_token(item: &WorkItem, what: &str) -> Outcome {
    ensure!(
        !item.completion_token.is_empty(),
        "{what}: {} has an empty completion token",
        describe(item)
    );
    Ok(())
}

async fn next_item(store: &dyn Store, worker: WorkerId, what: &str) -> Outcome<WorkItem> {
    match timeout(ITEM_WAIT, store.next_work_item(worker)).await {
        Err(_) => Err(failure!("{what}: no work item within {ITEM_WAIT:?}")),
        Ok(Err(err)) => Err(failure!("{what}: next_work_item failed: {err:?}")),
        Ok(Ok(item)) => {
            checked_token(&item, what)?;
            Ok(item)
        }
    }
}

fn into_orchestration(item: WorkItem, instance: &str) -> Outcome<Orch> {
    let description = describe(&item);
    let Some(Request::OrchestratorRequest(req)) = item.request else {
        return Err(failure!(
            "expected an orchestration work item for '{instance}', got {description}"
        ));
    };
    ensure_eq!(
        req.instance_id,
        instance,
        "instanceId of the orchestration work item"
    );
    ensure!(
        !req.new_events.is_empty(),
        "an orchestration work item for '{instance}' has no newEvents"
    );
    Ok(Orch {
        req,
        token: item.completion_token,
    })
}

fn into_activity(item: WorkItem, instance: &str) -> Outcome<Act> {
    let description = describe(&item);
    let Some(Request::ActivityRequest(req)) = item.request else {
        return Err(failure!(
            "expected an activity work item for '{instance}', got {description}"
        ));
    };
    let act = Act {
        req,
        token: item.completion_token,
    };
    ensure_eq!(
        act.instance_id(),
        instance,
        "orchestrationInstance.instanceId of the activity work item"
    );
    Ok(act)
}

async fn next_orchestration(store: &dyn Store, worker: WorkerId, instance: &str) -> Outcome<Orch> {
    let what = format!("orchestration work item for '{instance}'");
    into_orchestration(next_item(store, worker, &what).await?, instance)
}

async fn next_activity(store: &dyn Store, worker: WorkerId, instance: &str) -> Outcome<Act> {
    let what = format!("activity work item for '{instance}'");
    into_activity(next_item(store, worker, &what).await?, instance)
}

/// Sorts a work item into the activity or orchestration slot, failing on anything else.
fn sort_item(
    item: WorkItem,
    activity_for: &str,
    orchestration_for: &str,
    act: &mut Option<Act>,
    orch: &mut Option<Orch>,
) -> Outcome {
    let description = describe(&item);
    match item.request {
        Some(Request::ActivityRequest(_)) if act.is_none() => {
            *act = Some(into_activity(item, activity_for)?);
        }
        Some(Request::OrchestratorRequest(_)) if orch.is_none() => {
            *orch = Some(into_orchestration(item, orchestration_for)?);
        }
        _ => {
            return Err(failure!(
                "expected one activity work item for '{activity_for}' and one orchestration \
                 work item for '{orchestration_for}', got {description} in addition"
            ));
        }
    }
    Ok(())
}

/// Takes two work items which must be an activity of `activity_for` and an orchestration
/// work item of `orchestration_for`, in either order.
async fn next_pair(
    store: &dyn Store,
    worker: WorkerId,
    activity_for: &str,
    orchestration_for: &str,
) -> Outcome<(Act, Orch)> {
    let (mut act, mut orch) = (None, None);
    for _ in 0..2 {
        let item = next_item(store, worker, "an activity and an orchestration work item").await?;
        sort_item(item, activity_for, orchestration_for, &mut act, &mut orch)?;
    }
    match (act, orch) {
        (Some(act), Some(orch)) => Ok((act, orch)),
        _ => Err(failure!(
            "expected an activity and an orchestration work item"
        )),
    }
}

/// Watches the worker for [`QUIET`] and fails if it is handed anything.
async fn expect_no_item(store: &dyn Store, worker: WorkerId, why: &str) -> Outcome {
    match timeout(QUIET, store.next_work_item(worker)).await {
        Err(_) => Ok(()),
        Ok(Ok(item)) => Err(failure!(
            "{why}: expected no work item, got {}",
            describe(&item)
        )),
        Ok(Err(err)) => Err(failure!("{why}: next_work_item failed: {err:?}")),
    }
}

/// Calls `run_due` until the worker is handed a work item, for at most [`DRIVE_DEADLINE`].
async fn drive_until_item(store: &dyn Store, worker: WorkerId, what: &str) -> Outcome<WorkItem> {
    let deadline = Instant::now() + DRIVE_DEADLINE;
    loop {
        let next_due = call!(store.run_due().await);
        let wait = next_due
            .unwrap_or(POLL)
            .clamp(Duration::from_millis(1), POLL);
        match timeout(wait, store.next_work_item(worker)).await {
            Ok(Ok(item)) => {
                checked_token(&item, what)?;
                return Ok(item);
            }
            Ok(Err(err)) => return Err(failure!("{what}: next_work_item failed: {err:?}")),
            Err(_) => {}
        }
        ensure!(
            Instant::now() < deadline,
            "{what}: nothing was dispatched within {DRIVE_DEADLINE:?} of calling run_due"
        );
    }
}

/// An entity work item (`entityRequestV2`) and its completion token.
struct Ent {
    req: EntityRequest,
    token: String,
}

/// The request ids of an entity batch's operations, in order.
fn op_ids(req: &EntityRequest) -> Vec<String> {
    req.operation_requests
        .iter()
        .map(|e| match &e.event_type {
            Some(EventType::EntityOperationSignaled(s)) => s.request_id.clone(),
            Some(EventType::EntityOperationCalled(c)) => c.request_id.clone(),
            _ => format!("<not an operation: {}>", kind(e)),
        })
        .collect()
}

/// The critical sections granted in a list of events.
fn grants(events: &[HistoryEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::EntityLockGranted(g)) => Some(g.critical_section_id.clone()),
            _ => None,
        })
        .collect()
}

fn into_entity(item: WorkItem, entity: &str) -> Outcome<Ent> {
    let description = describe(&item);
    let Some(Request::EntityRequestV2(req)) = item.request else {
        return Err(failure!(
            "expected an entityRequestV2 work item for '{entity}', got {description}"
        ));
    };
    ensure_eq!(
        req.instance_id,
        entity,
        "instanceId of the entity work item"
    );
    ensure!(
        !req.operation_requests.is_empty(),
        "an entity work item for '{entity}' has no operationRequests"
    );
    Ok(Ent {
        req,
        token: item.completion_token,
    })
}

async fn next_entity(store: &dyn Store, worker: WorkerId, entity: &str) -> Outcome<Ent> {
    let what = format!("entity work item for '{entity}'");
    into_entity(next_item(store, worker, &what).await?, entity)
}

/// A successful operation result without output.
fn op_ok() -> OperationResult {
    OperationResult {
        result_type: Some(operation_result::ResultType::Success(
            OperationResultSuccess {
                result: None,
                start_time_utc: None,
                end_time_utc: None,
            },
        )),
    }
}

/// Answers an entity batch: every operation succeeded and the state becomes `state`.
async fn entity_done(store: &dyn Store, item: &Ent, state: Option<&str>) -> Outcome {
    let result = EntityBatchResult {
        results: item
            .req
            .operation_requests
            .iter()
            .map(|_| op_ok())
            .collect(),
        entity_state: state.map(str::to_owned),
        completion_token: item.token.clone(),
        ..Default::default()
    };
    call!(store.complete_entity(result).await);
    Ok(())
}

fn signal_request(entity: &str, operation: &str, request_id: &str) -> SignalEntityRequest {
    SignalEntityRequest {
        instance_id: entity.to_owned(),
        name: operation.to_owned(),
        request_id: request_id.to_owned(),
        ..Default::default()
    }
}

/// An entity's state as `get_entity` shows it: `None` if absent, else its serialized state.
async fn entity_state(store: &dyn Store, entity: &str) -> Outcome<Option<Option<String>>> {
    let meta = call!(store.get_entity(entity, true).await);
    Ok(meta.map(|m| m.serialized_state))
}

fn entity_message(
    id: i32,
    message: send_entity_message_action::EntityMessageType,
) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::SendEntityMessage(
            SendEntityMessageAction {
                entity_message_type: Some(message),
            },
        )),
    }
}

fn schedule_task(id: i32, name: &str, input: Option<&str>) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::ScheduleTask(ScheduleTaskAction {
            name: name.to_owned(),
            input: input.map(str::to_owned),
            ..Default::default()
        })),
    }
}

fn create_timer(id: i32, fire_at: prost_types::Timestamp) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::CreateTimer(CreateTimerAction {
            fire_at: Some(fire_at),
        })),
    }
}

fn finish(id: i32, status: OrchestrationStatus, result: Option<&str>) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(OrchestratorActionType::CompleteOrchestration(
            CompleteOrchestrationAction {
                orchestration_status: status as i32,
                result: result.map(str::to_owned),
                ..Default::default()
            },
        )),
    }
}

/// Answers an orchestration work item; the store must accept the answer.
async fn answer(store: &dyn Store, item: &Orch, actions: Vec<OrchestratorAction>) -> Outcome {
    let response = OrchestratorResponse {
        instance_id: item.req.instance_id.clone(),
        completion_token: item.token.clone(),
        actions,
        ..Default::default()
    };
    call!(store.complete_orchestration(response).await);
    Ok(())
}

/// Reports an activity's result; the store must accept it.
async fn activity_done(store: &dyn Store, item: &Act, result: &str) -> Outcome {
    let response = ActivityResponse {
        instance_id: item.instance_id().to_owned(),
        task_id: item.req.task_id,
        result: Some(result.to_owned()),
        failure_details: None,
        completion_token: item.token.clone(),
    };
    call!(store.complete_activity(response).await);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Playing the client.

fn new_instance(id: &str, name: &str, input: Option<&str>) -> CreateInstance {
    CreateInstance {
        spec: NewInstance {
            id: id.to_owned(),
            name: name.to_owned(),
            input: input.map(str::to_owned),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn create(store: &dyn Store, id: &str) -> Outcome {
    let created = call!(
        store
            .create_instance(new_instance(id, "Conformance", Some("\"input\"")))
            .await
    );
    ensure_eq!(created, id, "create_instance returns the requested id");
    Ok(())
}

fn status_of(state: &OrchestrationState) -> Option<RuntimeStatus> {
    RuntimeStatus::from_wire_i32(state.orchestration_status)
}

async fn get(store: &dyn Store, id: &str) -> Outcome<OrchestrationState> {
    match call!(store.get_instance(id, true).await) {
        Some(state) => Ok(state),
        None => Err(failure!("get_instance('{id}') found nothing")),
    }
}

async fn expect_status(
    store: &dyn Store,
    id: &str,
    expected: RuntimeStatus,
    when: &str,
) -> Outcome<OrchestrationState> {
    let state = get(store, id).await?;
    ensure_eq!(status_of(&state), Some(expected), "status of '{id}' {when}");
    Ok(state)
}

/// Creates an instance and takes its first work item.
async fn start(store: &dyn Store, worker: WorkerId, id: &str) -> Outcome<Orch> {
    create(store, id).await?;
    next_orchestration(store, worker, id).await
}

/// Creates an instance and commits an empty first turn, leaving it `Running`.
async fn start_running(store: &dyn Store, worker: WorkerId, id: &str) -> Outcome {
    let first = start(store, worker, id).await?;
    answer(store, &first, Vec::new()).await?;
    expect_status(store, id, RuntimeStatus::Running, "after its first turn").await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// Creating an instance: `get_instance` shows it `Pending` with its name, input, version, tags,
/// execution id and creation time; a taken id is `AlreadyExists` unless the reuse policy lists
/// the existing status, in which case a new execution replaces it.
pub async fn create_and_get(store: &dyn Store) -> Outcome {
    let earliest = Utc::now() - CLOCK_SLACK;
    let tags = HashMap::from([("team".to_owned(), "blue".to_owned())]);
    let request = CreateInstance {
        spec: NewInstance {
            id: "create-1".to_owned(),
            name: "Greeter".to_owned(),
            version: Some("1.0".to_owned()),
            input: Some("\"hello\"".to_owned()),
            tags: tags.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let id = call!(store.create_instance(request.clone()).await);
    let latest = Utc::now() + CLOCK_SLACK;
    ensure_eq!(id, "create-1", "create_instance returns the requested id");

    let state = expect_status(store, &id, RuntimeStatus::Pending, "after creation").await?;
    ensure_eq!(state.instance_id, id, "instanceId");
    ensure_eq!(state.name, "Greeter", "name");
    ensure_eq!(state.version.as_deref(), Some("1.0"), "version");
    ensure_eq!(state.input.as_deref(), Some("\"hello\""), "input");
    ensure_eq!(state.output.as_deref(), None, "output of a new instance");
    ensure_eq!(state.tags, tags, "tags");
    ensure!(
        state.completed_timestamp.is_none(),
        "a new instance has no completedTimestamp, got {:?}",
        state.completed_timestamp
    );
    let execution = state.execution_id.clone().unwrap_or_default();
    ensure!(
        !execution.is_empty(),
        "a new instance has an executionId, got {:?}",
        state.execution_id
    );
    let created = state.created_timestamp.as_ref().map(from_timestamp);
    ensure!(
        created.is_some_and(|t| t >= earliest && t <= latest),
        "createdTimestamp {created:?} is not the creation time ({earliest} ..= {latest})"
    );

    let bare = call!(store.get_instance(&id, false).await);
    ensure!(
        bare.as_ref()
            .is_some_and(|b| b.input.is_none() && b.output.is_none() && b.name == "Greeter"),
        "get_instance without payloads omits input and output and keeps the rest, got {bare:?}"
    );
    let unknown = call!(store.get_instance("create-unknown", true).await);
    ensure!(
        unknown.is_none(),
        "get_instance of an unknown id is None, got {unknown:?}"
    );

    let generated = call!(
        store
            .create_instance(new_instance("", "Greeter", None))
            .await
    );
    ensure!(
        !generated.is_empty() && generated != id,
        "an empty id gets a fresh generated one, got '{generated}'"
    );
    ensure!(
        call!(store.get_instance(&generated, false).await).is_some(),
        "the instance with the generated id '{generated}' exists"
    );

    match store.create_instance(request.clone()).await {
        Err(StoreError::AlreadyExists(_)) => {}
        other => {
            return Err(failure!(
                "creating '{id}' again without a reuse policy: expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let terminal_only = CreateInstance {
        replaceable: vec![
            RuntimeStatus::Completed,
            RuntimeStatus::Failed,
            RuntimeStatus::Terminated,
        ],
        ..request.clone()
    };
    match store.create_instance(terminal_only).await {
        Err(StoreError::AlreadyExists(_)) => {}
        other => {
            return Err(failure!(
                "creating '{id}' (Pending) again with only terminal statuses replaceable: \
                 expected AlreadyExists, got {other:?}"
            ));
        }
    }
    let unchanged = get(store, &id).await?;
    ensure_eq!(
        unchanged.execution_id,
        state.execution_id,
        "executionId after a refused create"
    );
    ensure_eq!(
        unchanged.input.as_deref(),
        Some("\"hello\""),
        "input after a refused create"
    );

    let replace = CreateInstance {
        spec: NewInstance {
            input: Some("\"again\"".to_owned()),
            ..request.spec.clone()
        },
        replaceable: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
        ..Default::default()
    };
    let replaced_id = call!(store.create_instance(replace).await);
    ensure_eq!(
        replaced_id,
        id,
        "create_instance replacing an instance returns its id"
    );
    let replaced = expect_status(store, &id, RuntimeStatus::Pending, "after replacement").await?;
    ensure_eq!(
        replaced.input.as_deref(),
        Some("\"again\""),
        "input after replacement"
    );
    ensure!(
        replaced
            .execution_id
            .as_deref()
            .is_some_and(|e| !e.is_empty() && e != execution),
        "a replaced instance gets a new executionId (old {execution}), got {:?}",
        replaced.execution_id
    );

    let chosen = CreateInstance {
        execution_id: Some("exec-chosen".to_owned()),
        ..new_instance("create-2", "Greeter", None)
    };
    call!(store.create_instance(chosen).await);
    let chosen_state = get(store, "create-2").await?;
    ensure_eq!(
        chosen_state.execution_id.as_deref(),
        Some("exec-chosen"),
        "executionId chosen by the caller"
    );
    Ok(())
}

/// Replacing an instance whose work item is in flight: the new execution is dispatched on its
/// own, and the old work item's answer is accepted but ignored.
pub async fn replace_drops_in_flight_work(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "replace-1";
    let old = start(store, w, id).await?;
    let replace = CreateInstance {
        replaceable: vec![RuntimeStatus::Pending, RuntimeStatus::Running],
        ..new_instance(id, "Conformance", Some("\"second\""))
    };
    call!(store.create_instance(replace).await);

    let fresh = next_orchestration(store, w, id).await?;
    ensure!(
        fresh.token != old.token,
        "the replacement's work item reuses the old token {}",
        old.token
    );
    ensure_eq!(
        kinds(&fresh.req.new_events),
        [OS, ES],
        "newEvents of the replacement's first work item"
    );
    ensure!(
        fresh.req.past_events.is_empty(),
        "the replacement starts with an empty history, got {:?}",
        kinds(&fresh.req.past_events)
    );
    ensure_eq!(
        execution_started(&fresh.req.new_events).and_then(|e| e.input.as_deref()),
        Some("\"second\""),
        "executionStarted.input of the replacement"
    );
    ensure!(
        fresh.req.execution_id != old.req.execution_id,
        "the replacement has a new executionId, got {:?} again",
        fresh.req.execution_id
    );

    answer(
        store,
        &old,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"stale\""))],
    )
    .await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Pending,
        "after the replaced execution's work item was answered",
    )
    .await?;

    answer(
        store,
        &fresh,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"fresh\""))],
    )
    .await?;
    let done = expect_status(store, id, RuntimeStatus::Completed, "after its own answer").await?;
    ensure_eq!(done.output.as_deref(), Some("\"fresh\""), "output");
    expect_no_item(store, w, "after the replacement completed").await
}

/// One activity, start to finish: the first work item is `[orchestratorStarted,
/// executionStarted]`, a `scheduleTask` becomes an activity work item for the same execution,
/// its result arrives as `taskCompleted` after the committed history, and `completeOrchestration`
/// ends the instance with its output, a completion time and the documented history layout.
pub async fn activity_round_trip(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "flow-1";
    call!(
        store
            .create_instance(new_instance(id, "Flow", Some("\"in\"")))
            .await
    );
    let execution = get(store, id).await?.execution_id.unwrap_or_default();

    let first = next_orchestration(store, w, id).await?;
    ensure_eq!(
        first.req.execution_id.as_deref(),
        Some(execution.as_str()),
        "executionId of the first work item"
    );
    ensure!(
        first.req.past_events.is_empty(),
        "the first work item has no pastEvents, got {:?}",
        kinds(&first.req.past_events)
    );
    ensure_eq!(
        kinds(&first.req.new_events),
        [OS, ES],
        "newEvents of the first work item"
    );
    let started = execution_started(&first.req.new_events);
    ensure_eq!(
        started.map(|s| (s.name.as_str(), s.input.as_deref())),
        Some(("Flow", Some("\"in\""))),
        "executionStarted name and input"
    );
    ensure_eq!(
        started
            .and_then(|s| s.orchestration_instance.as_ref())
            .map(|i| (i.instance_id.as_str(), i.execution_id.as_deref())),
        Some((id, Some(execution.as_str()))),
        "executionStarted.orchestrationInstance"
    );

    answer(store, &first, vec![schedule_task(1, "Double", Some("21"))]).await?;
    let act = next_activity(store, w, id).await?;
    ensure!(
        act.token != first.token,
        "the activity work item reuses the token {}",
        first.token
    );
    ensure_eq!(act.req.task_id, 1, "taskId of the activity work item");
    ensure_eq!(act.req.name, "Double", "name of the activity work item");
    ensure_eq!(
        act.req.input.as_deref(),
        Some("21"),
        "input of the activity work item"
    );
    ensure_eq!(
        act.req
            .orchestration_instance
            .as_ref()
            .and_then(|i| i.execution_id.as_deref()),
        Some(execution.as_str()),
        "orchestrationInstance.executionId of the activity work item"
    );

    activity_done(store, &act, "42").await?;
    let second = next_orchestration(store, w, id).await?;
    ensure!(
        second.token != first.token && second.token != act.token,
        "the second orchestration work item reuses a token ({})",
        second.token
    );
    ensure_eq!(
        kinds(&second.req.past_events),
        [OS, ES, TS, OC],
        "pastEvents of the second work item"
    );
    ensure_eq!(
        second.req.past_events.get(2).map(|e| e.event_id),
        Some(1),
        "eventId of taskScheduled (the action id)"
    );
    ensure_eq!(
        kinds(&second.req.new_events),
        [OS, TC],
        "newEvents of the second work item"
    );
    ensure_eq!(
        tasks_completed(&second.req.new_events)
            .first()
            .map(|t| (t.task_scheduled_id, t.result.as_deref())),
        Some((1, Some("42"))),
        "taskCompleted taskScheduledId and result"
    );

    let before_completion = Utc::now() - CLOCK_SLACK;
    answer(
        store,
        &second,
        vec![finish(2, OrchestrationStatus::Completed, Some("\"done\""))],
    )
    .await?;
    let done = expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after completeOrchestration",
    )
    .await?;
    ensure_eq!(done.output.as_deref(), Some("\"done\""), "output");
    ensure!(
        done.failure_details.is_none(),
        "a completed instance has no failureDetails, got {:?}",
        done.failure_details
    );
    let completed_at = done.completed_timestamp.as_ref().map(from_timestamp);
    ensure!(
        completed_at.is_some_and(|t| t >= before_completion),
        "completedTimestamp {completed_at:?} is not the completion time"
    );

    match timeout(
        ITEM_WAIT,
        store.wait_for_instance(id, WaitCondition::Completed, true),
    )
    .await
    {
        Ok(Ok(state)) => {
            ensure_eq!(
                status_of(&state),
                Some(RuntimeStatus::Completed),
                "status returned by wait_for_instance"
            );
            ensure_eq!(
                state.output.as_deref(),
                Some("\"done\""),
                "output returned by wait_for_instance"
            );
        }
        Ok(Err(err)) => return Err(failure!("wait_for_instance failed: {err:?}")),
        Err(_) => {
            return Err(failure!(
                "wait_for_instance(Completed) on a completed instance did not return"
            ));
        }
    }

    let history = call!(store.instance_history(id, Some(&execution)).await);
    ensure_eq!(
        kinds(&history),
        [OS, ES, TS, OC, OS, TC, OC, EC],
        "committed history"
    );
    match store.instance_history("flow-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "instance_history of an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }
    expect_no_item(store, w, "after the instance completed").await
}

/// One orchestration work item in flight per instance: events raised meanwhile are not
/// dispatched to any worker until the item is answered, then arrive together, in order.
pub async fn one_orchestration_in_flight(store: &dyn Store) -> Outcome {
    let w1 = worker(store).await?;
    let w2 = worker(store).await?;
    let id = "inflight-1";
    let first = start(store, w1, id).await?;
    call!(
        store
            .raise_event(id, "approval".to_owned(), Some("true".to_owned()))
            .await
    );
    call!(store.raise_event(id, "note".to_owned(), None).await);
    expect_no_item(
        store,
        w2,
        "events raised while a work item is in flight (other worker)",
    )
    .await?;
    expect_no_item(
        store,
        w1,
        "events raised while a work item is in flight (same worker)",
    )
    .await?;

    answer(store, &first, Vec::new()).await?;
    let next = next_orchestration(store, w2, id).await?;
    ensure_eq!(
        kinds(&next.req.past_events),
        [OS, ES, OC],
        "pastEvents after an empty first turn"
    );
    ensure_eq!(
        kinds(&next.req.new_events),
        [OS, ER, ER],
        "newEvents carrying the events raised meanwhile"
    );
    let raised: Vec<(&str, Option<&str>)> = events_raised(&next.req.new_events)
        .into_iter()
        .map(|e| (e.name.as_str(), e.input.as_deref()))
        .collect();
    ensure_eq!(
        raised,
        [("approval", Some("true")), ("note", None)],
        "raised events, in arrival order"
    );
    Ok(())
}

/// Disconnecting a worker puts the orchestration and activity it holds back: another worker
/// receives both under new tokens, and late answers from the lost worker are accepted but
/// ignored.
pub async fn disconnect_redelivers(store: &dyn Store) -> Outcome {
    let a = worker(store).await?;
    let (x, y) = ("lease-x", "lease-y");
    let x1 = start(store, a, x).await?;
    answer(store, &x1, vec![schedule_task(1, "Work", None)]).await?;
    create(store, y).await?;
    let (act_a, y_a) = next_pair(store, a, x, y).await?;

    let b = worker(store).await?;
    call!(store.disconnect_worker(a).await);
    let (act_b, y_b) = next_pair(store, b, x, y).await?;
    ensure_eq!(act_b.req.task_id, 1, "taskId of the redelivered activity");
    ensure!(
        act_b.token != act_a.token && y_b.token != y_a.token,
        "redelivered work items need new tokens: activity {} -> {}, orchestration {} -> {}",
        act_a.token,
        act_b.token,
        y_a.token,
        y_b.token
    );
    ensure_eq!(
        kinds(&y_b.req.new_events),
        [OS, ES],
        "newEvents of the redelivered orchestration work item"
    );

    activity_done(store, &act_a, "\"late\"").await?;
    answer(
        store,
        &y_a,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"late\""))],
    )
    .await?;
    expect_status(
        store,
        y,
        RuntimeStatus::Pending,
        "after a late answer from a disconnected worker",
    )
    .await?;
    expect_no_item(
        store,
        b,
        "a late activity result from a disconnected worker",
    )
    .await?;

    activity_done(store, &act_b, "\"fresh\"").await?;
    let x2 = next_orchestration(store, b, x).await?;
    ensure_eq!(
        kinds(&x2.req.new_events),
        [OS, TC],
        "newEvents after the redelivered activity completed"
    );
    ensure_eq!(
        tasks_completed(&x2.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("\"fresh\""),
        "the result recorded is the current worker's"
    );

    answer(
        store,
        &y_b,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"y\""))],
    )
    .await?;
    let y_done = expect_status(
        store,
        y,
        RuntimeStatus::Completed,
        "after the new worker answered",
    )
    .await?;
    ensure_eq!(y_done.output.as_deref(), Some("\"y\""), "output");
    answer(
        store,
        &x2,
        vec![finish(2, OrchestrationStatus::Completed, None)],
    )
    .await?;
    expect_no_item(store, b, "after both instances completed").await
}

/// A completion delivered twice with the same token (a retrying worker) is applied once and
/// the duplicate is answered with success.
pub async fn duplicate_completions_apply_once(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "dup-1";
    let first = start(store, w, id).await?;
    answer(store, &first, vec![schedule_task(1, "Once", None)]).await?;
    answer(
        store,
        &first,
        vec![
            schedule_task(1, "Once", None),
            schedule_task(2, "Twice", None),
        ],
    )
    .await?;
    let act = next_activity(store, w, id).await?;
    ensure_eq!(
        (act.req.task_id, act.req.name.as_str()),
        (1, "Once"),
        "the activity scheduled by the first answer"
    );
    expect_no_item(store, w, "a duplicate orchestration completion").await?;

    activity_done(store, &act, "1").await?;
    activity_done(store, &act, "2").await?;
    let second = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&second.req.past_events),
        [OS, ES, TS, OC],
        "history after a duplicated orchestration completion"
    );
    ensure_eq!(
        kinds(&second.req.new_events),
        [OS, TC],
        "newEvents after a duplicated activity completion"
    );
    ensure_eq!(
        tasks_completed(&second.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("1"),
        "the first activity result is the one recorded"
    );

    answer(
        store,
        &second,
        vec![finish(2, OrchestrationStatus::Completed, Some("\"ok\""))],
    )
    .await?;
    answer(
        store,
        &second,
        vec![finish(2, OrchestrationStatus::Failed, None)],
    )
    .await?;
    let done = expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after a duplicate answer",
    )
    .await?;
    ensure_eq!(done.output.as_deref(), Some("\"ok\""), "output");
    expect_no_item(store, w, "after the instance completed").await
}

/// Abandoning an orchestration or an activity work item brings it back (after the abandon
/// delay, carried out by `run_due`) under a new token; the abandoned token's answer is
/// ignored.
pub async fn abandon_redelivers(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "abandon-1";
    let first = start(store, w, id).await?;
    call!(store.abandon_orchestration(&first.token).await);
    // The lease ended with the abandon: an answer under its token is ignored.
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"stale\""))],
    )
    .await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Pending,
        "after an answer under an abandoned token",
    )
    .await?;
    let again = into_orchestration(
        drive_until_item(store, w, "an abandoned orchestration work item").await?,
        id,
    )?;
    ensure!(
        again.token != first.token,
        "the redelivered work item reuses the abandoned token {}",
        first.token
    );
    ensure_eq!(
        kinds(&again.req.new_events),
        [OS, ES],
        "newEvents of the redelivered work item"
    );
    ensure!(
        again.req.past_events.is_empty(),
        "nothing was committed, got pastEvents {:?}",
        kinds(&again.req.past_events)
    );

    answer(store, &again, vec![schedule_task(1, "Flaky", None)]).await?;
    let act = next_activity(store, w, id).await?;
    call!(store.abandon_activity(&act.token).await);
    // Ignored as well; if it were applied, the next work item would be the orchestration's.
    activity_done(store, &act, "\"stale\"").await?;
    let act2 = into_activity(
        drive_until_item(store, w, "an abandoned activity work item").await?,
        id,
    )?;
    ensure_eq!(act2.req.task_id, 1, "taskId of the redelivered activity");
    ensure!(
        act2.token != act.token,
        "the redelivered activity reuses the abandoned token {}",
        act.token
    );
    expect_no_item(store, w, "an activity result under an abandoned token").await?;
    activity_done(store, &act2, "\"fresh\"").await?;
    let next = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&next.req.new_events),
        [OS, TC],
        "newEvents after the redelivered activity completed"
    );
    ensure_eq!(
        tasks_completed(&next.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("\"fresh\""),
        "the result recorded is the redelivered attempt's"
    );
    Ok(())
}

/// Work items never answered are dispatched again once their lease expires (carried out by
/// `run_due`), under new tokens; answers under the expired tokens are ignored.
pub async fn lease_expiry_redelivers(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let (x, y) = ("expire-x", "expire-y");
    let x1 = start(store, w, x).await?;
    answer(store, &x1, vec![schedule_task(1, "Slow", None)]).await?;
    create(store, y).await?;
    let (act, y1) = next_pair(store, w, x, y).await?;

    let (mut act2, mut y2) = (None, None);
    for _ in 0..2 {
        let item = drive_until_item(store, w, "work items whose lease expired").await?;
        sort_item(item, x, y, &mut act2, &mut y2)?;
    }
    let (Some(act2), Some(y2)) = (act2, y2) else {
        return Err(failure!(
            "expected the activity and the orchestration work item back"
        ));
    };
    ensure!(
        act2.token != act.token && y2.token != y1.token,
        "work items dispatched again after lease expiry need new tokens: activity {} -> {}, \
         orchestration {} -> {}",
        act.token,
        act2.token,
        y1.token,
        y2.token
    );
    ensure_eq!(act2.req.task_id, 1, "taskId of the redelivered activity");
    ensure_eq!(
        kinds(&y2.req.new_events),
        [OS, ES],
        "newEvents of the redelivered orchestration work item"
    );

    activity_done(store, &act, "\"late\"").await?;
    answer(
        store,
        &y1,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"late\""))],
    )
    .await?;
    expect_status(
        store,
        y,
        RuntimeStatus::Pending,
        "after an answer under an expired lease",
    )
    .await?;
    activity_done(store, &act2, "\"on time\"").await?;
    let x2 = next_orchestration(store, w, x).await?;
    ensure_eq!(
        kinds(&x2.req.new_events),
        [OS, TC],
        "newEvents after the redelivered activity completed"
    );
    ensure_eq!(
        tasks_completed(&x2.req.new_events)
            .first()
            .and_then(|t| t.result.as_deref()),
        Some("\"on time\""),
        "the result recorded is the current lease's"
    );
    Ok(())
}

/// Timers: creating them signals `schedule_changed` and gives `run_due` a deadline; a timer due
/// in the past fires on the next `run_due`, one in the future not before its time, and each
/// `timerFired` carries the `timerId` and the exact `fireAt` it was created with.
pub async fn timers_fire_when_due(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "timer-1";
    let first = start(store, w, id).await?;
    let now = Utc::now();
    let past = to_timestamp(now - TimeDelta::milliseconds(1500));
    let future_at: DateTime<Utc> = now + TimeDelta::milliseconds(200);
    let future = to_timestamp(future_at);
    answer(
        store,
        &first,
        vec![create_timer(1, past), create_timer(2, future)],
    )
    .await?;
    ensure!(
        timeout(ITEM_WAIT, store.schedule_changed()).await.is_ok(),
        "schedule_changed did not resolve after timers were created"
    );

    let fired = into_orchestration(
        drive_until_item(store, w, "a timer due in the past").await?,
        id,
    )?;
    let received_at = Utc::now();
    let created: Vec<(i32, Option<prost_types::Timestamp>)> = fired
        .req
        .past_events
        .iter()
        .filter_map(|e| match &e.event_type {
            Some(EventType::TimerCreated(t)) => Some((e.event_id, t.fire_at)),
            _ => None,
        })
        .collect();
    ensure_eq!(
        created,
        [(1, Some(past)), (2, Some(future))],
        "timerCreated events (eventId, fireAt) in history"
    );
    let fired_now: Vec<(i32, Option<prost_types::Timestamp>)> = timers_fired(&fired.req.new_events)
        .into_iter()
        .map(|t| (t.timer_id, t.fire_at))
        .collect();
    ensure_eq!(
        fired_now.first(),
        Some(&(1, Some(past))),
        "the first timerFired (timerId, fireAt)"
    );
    let started_at = fired
        .req
        .new_events
        .first()
        .and_then(|e| e.timestamp.as_ref())
        .map(from_timestamp);
    ensure!(
        started_at.is_some_and(|t| t >= from_timestamp(&past)),
        "orchestratorStarted {started_at:?} is earlier than the timer it delivers"
    );

    if fired_now.len() == 1 {
        answer(store, &fired, Vec::new()).await?;
        let second = into_orchestration(
            drive_until_item(store, w, "a timer due in the future").await?,
            id,
        )?;
        let received_at = Utc::now();
        ensure!(
            received_at >= future_at,
            "the timer due at {future_at} fired early, at {received_at}"
        );
        ensure_eq!(
            kinds(&second.req.new_events),
            [OS, TF],
            "newEvents delivering the second timer"
        );
        ensure_eq!(
            timers_fired(&second.req.new_events)
                .first()
                .map(|t| (t.timer_id, t.fire_at)),
            Some((2, Some(future))),
            "the second timerFired (timerId, fireAt)"
        );
        answer(
            store,
            &second,
            vec![finish(3, OrchestrationStatus::Completed, None)],
        )
        .await?;
    } else {
        ensure!(
            received_at >= future_at,
            "the timer due at {future_at} fired early, at {received_at}"
        );
        ensure_eq!(
            fired_now,
            [(1, Some(past)), (2, Some(future))],
            "timerFired events (timerId, fireAt)"
        );
        answer(
            store,
            &fired,
            vec![finish(3, OrchestrationStatus::Completed, None)],
        )
        .await?;
    }
    expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after its timers fired",
    )
    .await?;
    Ok(())
}

/// A timer of an execution that has since continued as new is dropped when it comes due: the
/// new execution never sees its `timerFired`.
pub async fn timer_of_previous_execution_dropped(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "timer-can";
    let first = start(store, w, id).await?;
    let old_execution = first.req.execution_id.clone();
    let fire_at = to_timestamp(Utc::now() - TimeDelta::seconds(1));
    answer(store, &first, vec![create_timer(1, fire_at)]).await?;
    call!(store.raise_event(id, "restart".to_owned(), None).await);
    let second = next_orchestration(store, w, id).await?;
    ensure!(
        count(&second.req.new_events, ER) == 1,
        "newEvents carry the raised event, got {:?}",
        kinds(&second.req.new_events)
    );
    answer(
        store,
        &second,
        vec![finish(
            2,
            OrchestrationStatus::ContinuedAsNew,
            Some("\"gen2\""),
        )],
    )
    .await?;

    let third = next_orchestration(store, w, id).await?;
    ensure!(
        third.req.execution_id.is_some() && third.req.execution_id != old_execution,
        "continue-as-new starts a new execution, got executionId {:?} (was {old_execution:?})",
        third.req.execution_id
    );
    ensure!(
        third.req.past_events.is_empty(),
        "a new execution starts with an empty history, got {:?}",
        kinds(&third.req.past_events)
    );
    ensure_eq!(
        kinds(&third.req.new_events),
        [OS, ES],
        "newEvents of the new execution"
    );
    ensure_eq!(
        execution_started(&third.req.new_events).and_then(|e| e.input.as_deref()),
        Some("\"gen2\""),
        "executionStarted.input of the new execution"
    );
    answer(store, &third, Vec::new()).await?;

    call!(store.run_due().await);
    expect_no_item(store, w, "a timer of the previous execution came due").await?;
    let state = expect_status(store, id, RuntimeStatus::Running, "after continue-as-new").await?;
    ensure_eq!(
        state.execution_id,
        third.req.execution_id,
        "executionId after continue-as-new"
    );
    let history = call!(store.instance_history(id, None).await);
    ensure_eq!(
        count(&history, TF),
        0,
        "timerFired events in the new execution's history {:?}",
        kinds(&history)
    );
    Ok(())
}

/// An activity result for an execution that has since continued as new is accepted and
/// dropped: the new execution never sees it.
pub async fn activity_of_previous_execution_dropped(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "act-can";
    let first = start(store, w, id).await?;
    answer(store, &first, vec![schedule_task(1, "Old", None)]).await?;
    let act = next_activity(store, w, id).await?;
    call!(store.raise_event(id, "restart".to_owned(), None).await);
    let second = next_orchestration(store, w, id).await?;
    answer(
        store,
        &second,
        vec![finish(
            2,
            OrchestrationStatus::ContinuedAsNew,
            Some("\"gen2\""),
        )],
    )
    .await?;
    let third = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&third.req.new_events),
        [OS, ES],
        "newEvents of the new execution"
    );
    answer(store, &third, Vec::new()).await?;

    activity_done(store, &act, "\"stale\"").await?;
    expect_no_item(store, w, "an activity result for the previous execution").await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Running,
        "after a stale activity result",
    )
    .await?;
    let history = call!(store.instance_history(id, None).await);
    ensure_eq!(
        count(&history, TC),
        0,
        "taskCompleted events in the new execution's history {:?}",
        kinds(&history)
    );
    Ok(())
}

/// An answer that cannot be applied (an action without a type) is `InvalidArgument` and fails
/// the orchestration visibly instead of leaving it in flight.
pub async fn malformed_answer_fails_orchestration(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "malformed-1";
    let first = start(store, w, id).await?;
    let response = OrchestratorResponse {
        instance_id: id.to_owned(),
        completion_token: first.token.clone(),
        actions: vec![OrchestratorAction {
            id: 1,
            orchestrator_action_type: None,
        }],
        ..Default::default()
    };
    match store.complete_orchestration(response).await {
        Err(StoreError::InvalidArgument(_)) => {}
        other => {
            return Err(failure!(
                "an action without a type: expected InvalidArgument, got {other:?}"
            ));
        }
    }
    let failed =
        expect_status(store, id, RuntimeStatus::Failed, "after a malformed answer").await?;
    ensure!(
        failed.failure_details.is_some(),
        "a failed instance has failureDetails"
    );
    expect_no_item(store, w, "after the instance failed").await
}

/// Termination: an instance that never ran is `Terminated` at once with the reason as output;
/// a running (or suspended) one gets a work item with `executionTerminated` and ends when the
/// worker acknowledges it; unknown and terminal instances are left alone without error.
pub async fn terminate_instances(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let pending = "term-pending";
    create(store, pending).await?;
    call!(
        store
            .terminate_instance(pending, Some("\"stop\"".to_owned()), false)
            .await
    );
    let stopped = expect_status(
        store,
        pending,
        RuntimeStatus::Terminated,
        "after terminating it before it ever ran",
    )
    .await?;
    ensure_eq!(
        stopped.output.as_deref(),
        Some("\"stop\""),
        "output (the reason)"
    );
    ensure!(
        stopped.completed_timestamp.is_some(),
        "a terminated instance has a completedTimestamp"
    );
    expect_no_item(store, w, "an instance terminated before it ran").await?;

    let running = "term-running";
    start_running(store, w, running).await?;
    call!(
        store
            .terminate_instance(running, Some("\"bye\"".to_owned()), false)
            .await
    );
    let item = next_orchestration(store, w, running).await?;
    ensure_eq!(
        kinds(&item.req.new_events),
        [OS, ET],
        "newEvents after terminating a running instance"
    );
    let reason = item
        .req
        .new_events
        .iter()
        .find_map(|e| match &e.event_type {
            Some(EventType::ExecutionTerminated(t)) => Some(t.input.clone()),
            _ => None,
        });
    ensure_eq!(
        reason,
        Some(Some("\"bye\"".to_owned())),
        "executionTerminated.input"
    );
    answer(
        store,
        &item,
        vec![finish(1, OrchestrationStatus::Terminated, Some("\"bye\""))],
    )
    .await?;
    let ended = expect_status(
        store,
        running,
        RuntimeStatus::Terminated,
        "after acknowledging",
    )
    .await?;
    ensure_eq!(ended.output.as_deref(), Some("\"bye\""), "output");

    let suspended = "term-suspended";
    start_running(store, w, suspended).await?;
    call!(store.suspend_instance(suspended, None).await);
    let pause = next_orchestration(store, w, suspended).await?;
    answer(store, &pause, Vec::new()).await?;
    expect_status(
        store,
        suspended,
        RuntimeStatus::Suspended,
        "after suspending",
    )
    .await?;
    call!(
        store
            .terminate_instance(suspended, Some("\"anyway\"".to_owned()), false)
            .await
    );
    let item = next_orchestration(store, w, suspended).await?;
    ensure_eq!(
        count(&item.req.new_events, ET),
        1,
        "executionTerminated in {:?} (termination of a suspended instance)",
        kinds(&item.req.new_events)
    );
    answer(
        store,
        &item,
        vec![finish(
            1,
            OrchestrationStatus::Terminated,
            Some("\"anyway\""),
        )],
    )
    .await?;
    expect_status(
        store,
        suspended,
        RuntimeStatus::Terminated,
        "after acknowledging",
    )
    .await?;

    call!(store.terminate_instance("term-unknown", None, false).await);
    ensure!(
        call!(store.get_instance("term-unknown", false).await).is_none(),
        "terminating an unknown instance must not create it"
    );
    call!(
        store
            .terminate_instance(pending, Some("\"again\"".to_owned()), false)
            .await
    );
    let still = expect_status(
        store,
        pending,
        RuntimeStatus::Terminated,
        "after a second terminate",
    )
    .await?;
    ensure_eq!(
        still.output.as_deref(),
        Some("\"stop\""),
        "output after a second terminate"
    );
    expect_no_item(store, w, "terminating a terminal instance").await
}

/// `raise_event` on an unknown instance is `NotFound`; on a terminal one it succeeds and
/// queues nothing.
pub async fn raise_event_unknown_and_terminal(store: &dyn Store) -> Outcome {
    match store
        .raise_event("raise-unknown", "e".to_owned(), None)
        .await
    {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "raise_event on an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }
    ensure!(
        call!(store.get_instance("raise-unknown", false).await).is_none(),
        "raising an event must not create the instance"
    );

    let w = worker(store).await?;
    let id = "raise-done";
    let first = start(store, w, id).await?;
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"x\""))],
    )
    .await?;
    call!(
        store
            .raise_event(id, "late".to_owned(), Some("1".to_owned()))
            .await
    );
    expect_no_item(store, w, "an event raised on a completed instance").await?;
    let done = expect_status(store, id, RuntimeStatus::Completed, "after a late event").await?;
    ensure_eq!(done.output.as_deref(), Some("\"x\""), "output");
    Ok(())
}

/// Suspend and resume pair up: a resume without a suspend queues nothing, a second suspend
/// queues nothing, events for a suspended instance wait for the resume, and a suspend and
/// resume issued back to back reach the worker together.
pub async fn suspend_and_resume(store: &dyn Store) -> Outcome {
    match store.suspend_instance("suspend-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "suspend_instance on an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }
    match store.resume_instance("suspend-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "resume_instance on an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }

    let w = worker(store).await?;
    let id = "suspend-1";
    start_running(store, w, id).await?;
    call!(store.resume_instance(id, None).await);
    expect_no_item(store, w, "resuming an instance that is not suspended").await?;

    call!(
        store
            .suspend_instance(id, Some("\"pause\"".to_owned()))
            .await
    );
    call!(store.suspend_instance(id, None).await);
    let pause = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&pause.req.new_events),
        [OS, SUSPENDED],
        "newEvents after suspending twice"
    );
    answer(store, &pause, Vec::new()).await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Suspended,
        "after the suspension was committed",
    )
    .await?;

    call!(
        store
            .raise_event(id, "held".to_owned(), Some("7".to_owned()))
            .await
    );
    expect_no_item(store, w, "an event for a suspended instance").await?;
    call!(store.resume_instance(id, Some("\"go\"".to_owned())).await);
    let resumed = next_orchestration(store, w, id).await?;
    let new = &resumed.req.new_events;
    ensure!(
        count(new, ER) == 1 && count(new, RESUMED) == 1 && count(new, SUSPENDED) == 0,
        "after resume expected the held event and one executionResumed, got {:?}",
        kinds(new)
    );
    ensure_eq!(
        events_raised(new).first().map(|e| e.name.as_str()),
        Some("held"),
        "name of the held event"
    );
    answer(store, &resumed, Vec::new()).await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Running,
        "after the resume was committed",
    )
    .await?;

    call!(store.suspend_instance(id, None).await);
    call!(store.resume_instance(id, None).await);
    call!(store.resume_instance(id, None).await);
    let both = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&both.req.new_events),
        [OS, SUSPENDED, RESUMED],
        "newEvents after suspend, resume, resume issued back to back"
    );
    answer(store, &both, Vec::new()).await?;
    expect_status(
        store,
        id,
        RuntimeStatus::Running,
        "after suspend and resume",
    )
    .await?;
    expect_no_item(store, w, "after suspend and resume were committed").await
}

/// Restart: `FailedPrecondition` for a non-terminal instance, `NotFound` for an unknown one;
/// a terminal instance starts again with its name, version, input and tags, under a new id or
/// (replacing it) under its own id with a new execution.
pub async fn restart_instances(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "restart-1";
    let tags = HashMap::from([("kind".to_owned(), "restart".to_owned())]);
    let request = CreateInstance {
        spec: NewInstance {
            id: id.to_owned(),
            name: "Restartable".to_owned(),
            version: Some("2".to_owned()),
            input: Some("\"original\"".to_owned()),
            tags: tags.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    call!(store.create_instance(request).await);
    for new_id in [false, true] {
        match store.restart_instance(id, new_id).await {
            Err(StoreError::FailedPrecondition(_)) => {}
            other => {
                return Err(failure!(
                    "restart of a Pending instance (new id: {new_id}): expected \
                     FailedPrecondition, got {other:?}"
                ));
            }
        }
    }
    match store.restart_instance("restart-unknown", true).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "restart of an unknown instance: expected NotFound, got {other:?}"
            ));
        }
    }

    let first = next_orchestration(store, w, id).await?;
    let old_execution = first.req.execution_id.clone();
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"out\""))],
    )
    .await?;

    let new_id = call!(store.restart_instance(id, true).await);
    ensure!(
        !new_id.is_empty() && new_id != id,
        "restart with a new id returned '{new_id}'"
    );
    let copy = expect_status(store, &new_id, RuntimeStatus::Pending, "after restart").await?;
    ensure_eq!(copy.name, "Restartable", "name of the restarted instance");
    ensure_eq!(
        copy.version.as_deref(),
        Some("2"),
        "version of the restarted instance"
    );
    ensure_eq!(
        copy.input.as_deref(),
        Some("\"original\""),
        "input of the restarted instance"
    );
    ensure_eq!(copy.tags, tags, "tags of the restarted instance");
    expect_status(
        store,
        id,
        RuntimeStatus::Completed,
        "after restarting it under a new id",
    )
    .await?;
    let copy_first = next_orchestration(store, w, &new_id).await?;
    ensure_eq!(
        execution_started(&copy_first.req.new_events)
            .map(|e| (e.name.as_str(), e.input.as_deref())),
        Some(("Restartable", Some("\"original\""))),
        "executionStarted of the restarted instance"
    );

    let same = call!(store.restart_instance(id, false).await);
    ensure_eq!(same, id, "restart under the same id returns it");
    let again = expect_status(store, id, RuntimeStatus::Pending, "after restart in place").await?;
    ensure!(
        again.execution_id.is_some() && again.execution_id != old_execution,
        "a restart in place starts a new execution, got {:?} (was {old_execution:?})",
        again.execution_id
    );
    ensure_eq!(
        again.input.as_deref(),
        Some("\"original\""),
        "input after restart in place"
    );
    ensure_eq!(
        again.output.as_deref(),
        None,
        "output after restart in place"
    );
    Ok(())
}

/// Purge removes terminal instances only: a running one counts 0 and stays, a terminal one
/// counts 1 and is gone (with its history); a filter purges the terminal instances with a
/// listed status.
pub async fn purge_instances(store: &dyn Store) -> Outcome {
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

/// Query paging: five matching instances in pages of two come back as 2, 2, 1 in creation
/// order, with a continuation token (never empty or `"0"`) on every page but the last; the
/// prefix and status filters hold and payloads are included only on request.
pub async fn query_paging(store: &dyn Store) -> Outcome {
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

/// `list_instance_ids` lists terminal instances only, in pages whose key contains the last id
/// returned; the last page has no key.
pub async fn list_terminal_instance_ids(store: &dyn Store) -> Outcome {
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

/// Work-item filters: a worker whose filters name other orchestrations and activities gets
/// nothing, while a matching worker gets the orchestration and then its activity.
pub async fn work_filters(store: &dyn Store) -> Outcome {
    let other = call!(
        store
            .connect_worker(only("OtherOrchestration", "OtherActivity").into())
            .await
    );
    let matching = call!(
        store
            .connect_worker(only("Wanted", "WantedActivity").into())
            .await
    );
    let id = "filter-1";
    call!(
        store
            .create_instance(new_instance(id, "Wanted", None))
            .await
    );
    expect_no_item(store, other, "a worker filtering on another orchestration").await?;
    let first = next_orchestration(store, matching, id).await?;
    answer(
        store,
        &first,
        vec![schedule_task(1, "WantedActivity", None)],
    )
    .await?;
    expect_no_item(store, other, "a worker filtering on another activity").await?;
    let act = next_activity(store, matching, id).await?;
    ensure_eq!(
        act.req.name,
        "WantedActivity",
        "name of the filtered activity"
    );
    Ok(())
}

/// `wait_for_instance` waits for its condition (also for an instance that does not exist yet)
/// and is cancel-safe: waits dropped by a timeout leave the store working, and later waits
/// return as soon as the condition holds.
pub async fn wait_for_instance_is_cancel_safe(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "wait-1";
    create(store, id).await?;
    ensure!(
        timeout(
            QUIET,
            store.wait_for_instance(id, WaitCondition::Completed, true)
        )
        .await
        .is_err(),
        "wait_for_instance(Completed) returned for a pending instance"
    );
    ensure!(
        timeout(
            QUIET,
            store.wait_for_instance(id, WaitCondition::Started, false)
        )
        .await
        .is_err(),
        "wait_for_instance(Started) returned for a pending instance"
    );
    ensure!(
        timeout(
            QUIET,
            store.wait_for_instance("wait-unknown", WaitCondition::Started, false)
        )
        .await
        .is_err(),
        "wait_for_instance returned for an unknown instance"
    );

    let drive = async {
        let first = next_orchestration(store, w, id).await?;
        answer(store, &first, Vec::new()).await?;
        call!(store.raise_event(id, "finish".to_owned(), None).await);
        let second = next_orchestration(store, w, id).await?;
        answer(
            store,
            &second,
            vec![finish(
                1,
                OrchestrationStatus::Completed,
                Some("\"waited\""),
            )],
        )
        .await
    };
    let (started, completed, driven) = tokio::join!(
        timeout(
            ITEM_WAIT,
            store.wait_for_instance(id, WaitCondition::Started, false)
        ),
        timeout(
            ITEM_WAIT,
            store.wait_for_instance(id, WaitCondition::Completed, true)
        ),
        drive
    );
    driven?;
    match started {
        Ok(Ok(state)) => ensure!(
            status_of(&state).is_some_and(|s| s != RuntimeStatus::Pending),
            "wait_for_instance(Started) returned a pending instance: {state:?}"
        ),
        other => return Err(failure!("wait_for_instance(Started) gave {other:?}")),
    }
    match completed {
        Ok(Ok(state)) => {
            ensure_eq!(
                status_of(&state),
                Some(RuntimeStatus::Completed),
                "status returned by wait_for_instance(Completed)"
            );
            ensure_eq!(
                state.output.as_deref(),
                Some("\"waited\""),
                "output returned by wait_for_instance(Completed)"
            );
        }
        other => return Err(failure!("wait_for_instance(Completed) gave {other:?}")),
    }

    let late = "wait-late";
    let create_late = async {
        create(store, late).await?;
        let first = next_orchestration(store, w, late).await?;
        answer(store, &first, Vec::new()).await
    };
    let (waited, created) = tokio::join!(
        timeout(
            ITEM_WAIT,
            store.wait_for_instance(late, WaitCondition::Started, false)
        ),
        create_late
    );
    created?;
    match waited {
        Ok(Ok(state)) => ensure_eq!(
            status_of(&state),
            Some(RuntimeStatus::Running),
            "status returned by a wait that began before the instance existed"
        ),
        other => {
            return Err(failure!(
                "wait_for_instance(Started) for an instance created later gave {other:?}"
            ));
        }
    }
    Ok(())
}

/// `reset` removes every instance, queued work item and lease, while connected workers stay
/// connected and receive work created afterwards.
pub async fn reset_clears_everything(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let first = start(store, w, "reset-1").await?;
    answer(
        store,
        &first,
        vec![
            schedule_task(1, "Held", None),
            schedule_task(2, "Queued", None),
        ],
    )
    .await?;
    let held = next_activity(store, w, "reset-1").await?;
    create(store, "reset-2").await?;
    call!(store.terminate_instance("reset-2", None, false).await);
    create(store, "reset-3").await?;

    call!(store.reset().await);
    for id in ["reset-1", "reset-2", "reset-3"] {
        ensure!(
            call!(store.get_instance(id, false).await).is_none(),
            "'{id}' survived reset"
        );
    }
    let query = call!(store.query_instances(InstanceQuery::default()).await);
    ensure!(
        query.items.is_empty() && query.continuation_token.is_none(),
        "query after reset returned {:?}",
        query
            .items
            .iter()
            .map(|s| &s.instance_id)
            .collect::<Vec<_>>()
    );
    let listed = call!(
        store
            .list_instance_ids(ListInstanceIdsRequest::default())
            .await
    );
    ensure!(
        listed.items.is_empty(),
        "list_instance_ids after reset returned {:?}",
        listed.items
    );
    activity_done(store, &held, "\"late\"").await?;
    expect_no_item(store, w, "after reset").await?;

    let fresh = start(store, w, "reset-4").await?;
    ensure_eq!(
        kinds(&fresh.req.new_events),
        [OS, ES],
        "newEvents of an instance created after reset"
    );
    Ok(())
}

/// Completion tokens stay unique across `reset`: an answer to a work item handed out before
/// the reset (a test's straggling worker) never completes one handed out after it, even for
/// an instance with the same id.
pub async fn tokens_unique_across_reset(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "token-1";
    let before = start(store, w, id).await?;
    call!(store.reset().await);
    let after = start(store, w, id).await?;
    answer(
        store,
        &before,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"stale\""))],
    )
    .await?;
    let state = get(store, id).await?;
    ensure!(
        status_of(&state) == Some(RuntimeStatus::Pending),
        "an answer to a work item from before the reset was applied to the new instance \
         (status {:?}, output {:?}); tokens before/after reset: {:?}/{:?}",
        status_of(&state),
        state.output,
        before.token,
        after.token
    );
    ensure!(
        after.token != before.token,
        "the completion token {:?} was handed out again after reset",
        after.token
    );
    Ok(())
}

/// Rewind: only a failed instance can be rewound (`NotFound` / `FailedPrecondition`
/// otherwise); a rewound one is `Running` again and its next work item is exactly
/// `[orchestratorStarted, executionRewound]`; the worker's rewritten history becomes the new
/// past, with the execution id stamped into its `executionStarted`.
pub async fn rewind_failed_instance(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "rewind-1";
    match store.rewind_instance("rewind-unknown", None).await {
        Err(StoreError::NotFound(_)) => {}
        other => {
            return Err(failure!(
                "rewind of an unknown id: expected NotFound, got {other:?}"
            ));
        }
    }
    let first = start(store, w, id).await?;
    match store.rewind_instance(id, None).await {
        Err(StoreError::FailedPrecondition(_)) => {}
        other => {
            return Err(failure!(
                "rewind of a pending instance: expected FailedPrecondition, got {other:?}"
            ));
        }
    }
    answer(
        store,
        &first,
        vec![finish(1, OrchestrationStatus::Failed, None)],
    )
    .await?;
    expect_status(store, id, RuntimeStatus::Failed, "after failing").await?;
    call!(store.rewind_instance(id, Some("retry".to_owned())).await);
    expect_status(store, id, RuntimeStatus::Running, "after rewind").await?;
    let rewind = next_orchestration(store, w, id).await?;
    ensure_eq!(
        kinds(&rewind.req.new_events),
        vec![OS, "executionRewound"],
        "newEvents of the rewind work item"
    );
    let mut new_history: Vec<HistoryEvent> = rewind
        .req
        .past_events
        .iter()
        .chain(&rewind.req.new_events)
        .filter(|e| kind(e) != EC)
        .cloned()
        .collect();
    for e in &mut new_history {
        if let Some(history_event::EventType::ExecutionStarted(es)) = &mut e.event_type {
            es.orchestration_instance = Some(OrchestrationInstance {
                instance_id: id.to_owned(),
                execution_id: Some("rewound".to_owned()),
            });
        }
    }
    let action = OrchestratorAction {
        id: -1,
        orchestrator_action_type: Some(
            orchestrator_action::OrchestratorActionType::RewindOrchestration(
                RewindOrchestrationAction {
                    new_history: new_history.clone(),
                },
            ),
        ),
    };
    answer(store, &rewind, vec![action]).await?;
    let replay = next_orchestration(store, w, id).await?;
    ensure_eq!(
        replay.req.past_events,
        new_history,
        "past events after the rewind"
    );
    ensure_eq!(
        kinds(&replay.req.new_events),
        vec![OS],
        "newEvents of the replay"
    );
    ensure_eq!(
        replay.req.execution_id.as_deref(),
        Some("rewound"),
        "execution id after the rewind"
    );
    answer(
        store,
        &replay,
        vec![finish(2, OrchestrationStatus::Completed, Some("1"))],
    )
    .await?;
    expect_status(store, id, RuntimeStatus::Completed, "after the replay").await?;
    Ok(())
}

/// Terminate-now: live instances end `Terminated` at once with the reason as output and no
/// work item; unknown and terminal ids are returned as not terminated; an answer to a work
/// item that was in flight is ignored.
pub async fn terminate_now_skips_the_worker(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let in_flight = start(store, w, "now-in-flight").await?;
    create(store, "now-done").await?;
    let done = next_orchestration(store, w, "now-done").await?;
    answer(
        store,
        &done,
        vec![finish(1, OrchestrationStatus::Completed, None)],
    )
    .await?;
    let untouched = call!(
        store
            .terminate_now(
                vec![
                    "now-in-flight".into(),
                    "now-done".into(),
                    "now-unknown".into()
                ],
                Some("\"stop\"".to_owned())
            )
            .await
    );
    ensure_eq!(
        untouched,
        vec!["now-done".to_owned(), "now-unknown".to_owned()],
        "ids not terminated"
    );
    let state = expect_status(
        store,
        "now-in-flight",
        RuntimeStatus::Terminated,
        "after terminate_now",
    )
    .await?;
    ensure_eq!(
        state.output.as_deref(),
        Some("\"stop\""),
        "output of the terminated instance"
    );
    answer(
        store,
        &in_flight,
        vec![finish(1, OrchestrationStatus::Completed, Some("\"late\""))],
    )
    .await?;
    let state = expect_status(
        store,
        "now-in-flight",
        RuntimeStatus::Terminated,
        "after a late answer",
    )
    .await?;
    ensure_eq!(
        state.output.as_deref(),
        Some("\"stop\""),
        "a late answer changed the output"
    );
    expect_no_item(store, w, "after terminate_now").await
}

/// Chunked answers: chunks marked partial are held under their token and applied once with
/// the last chunk, in order; a repeated chunk index is ignored.
#[allow(deprecated)] // isPartial / chunkIndex are deprecated on the wire but still sent
pub async fn partial_chunks_apply_once(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let id = "chunks-1";
    let first = start(store, w, id).await?;
    let chunk =
        |index: i32, partial: bool, actions: Vec<OrchestratorAction>| OrchestratorResponse {
            instance_id: id.to_owned(),
            completion_token: first.token.clone(),
            actions,
            is_partial: partial,
            chunk_index: Some(index),
            ..Default::default()
        };
    call!(
        store
            .complete_orchestration(chunk(0, true, vec![schedule_task(1, "A", None)]))
            .await
    );
    call!(
        store
            .complete_orchestration(chunk(0, true, vec![schedule_task(1, "A", None)]))
            .await
    );
    expect_no_item(store, w, "before the last chunk").await?;
    call!(
        store
            .complete_orchestration(chunk(1, false, vec![schedule_task(2, "B", None)]))
            .await
    );
    let a = next_activity(store, w, id).await?;
    let b = next_activity(store, w, id).await?;
    let mut ids = [a.req.task_id, b.req.task_id];
    ids.sort_unstable();
    ensure_eq!(ids, [1, 2], "task ids scheduled by the chunks");
    expect_no_item(store, w, "after both activities").await?;
    let history = call!(store.instance_history(id, None).await);
    ensure_eq!(count(&history, TS), 2, "taskScheduled events in history");
    Ok(())
}

/// Signals: a signal to `@name@key` runs as an `entityRequestV2` batch whose committed state
/// `get_entity` shows; other ids are `InvalidArgument` and never-seen entities are absent.
pub async fn entity_signal_runs_and_commits_state(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let entity = "@counter@c1";
    let unknown = call!(store.get_entity("@counter@never", true).await);
    ensure!(
        unknown.is_none(),
        "get_entity of a never-seen entity is None, got {unknown:?}"
    );
    match store
        .signal_entity(signal_request("not-an-entity", "add", "r-bad"))
        .await
    {
        Err(StoreError::InvalidArgument(_)) => {}
        other => {
            return Err(failure!(
                "a signal to 'not-an-entity': expected InvalidArgument, got {other:?}"
            ));
        }
    }
    expect_no_item(store, w, "after a signal to an invalid id").await?;

    call!(
        store
            .signal_entity(SignalEntityRequest {
                input: Some("5".to_owned()),
                ..signal_request(entity, "add", "")
            })
            .await
    );
    let batch = next_entity(store, w, entity).await?;
    ensure_eq!(batch.req.entity_state, None, "state of a new entity");
    let [operation] = batch.req.operation_requests.as_slice() else {
        return Err(failure!(
            "one signal makes a batch of one operation, got {:?}",
            op_ids(&batch.req)
        ));
    };
    let Some(EventType::EntityOperationSignaled(signaled)) = &operation.event_type else {
        return Err(failure!(
            "the operation of a signal is an entityOperationSignaled event, got {}",
            kind(operation)
        ));
    };
    ensure_eq!(signaled.operation, "add", "operation of the signal");
    ensure_eq!(signaled.input.as_deref(), Some("5"), "input of the signal");
    ensure!(
        !signaled.request_id.is_empty(),
        "a signal without a requestId gets a generated one, got an empty requestId"
    );
    ensure!(
        signaled
            .target_instance_id
            .as_deref()
            .is_none_or(|t| t == entity),
        "targetInstanceId of the signal is the entity, got {:?}",
        signaled.target_instance_id
    );

    entity_done(store, &batch, Some("5")).await?;
    let meta = call!(store.get_entity(entity, true).await);
    let Some(meta) = meta else {
        return Err(failure!(
            "get_entity('{entity}') is None after a batch committed state"
        ));
    };
    ensure_eq!(meta.instance_id, entity, "instanceId of the entity");
    ensure_eq!(
        meta.serialized_state.as_deref(),
        Some("5"),
        "state after the batch"
    );
    ensure_eq!(
        meta.backlog_queue_size,
        0,
        "backlogQueueSize after the batch"
    );
    ensure!(
        meta.last_modified_time.is_some(),
        "an entity always has a lastModifiedTime"
    );
    ensure_eq!(meta.locked_by, None, "lockedBy of an unlocked entity");
    let bare = call!(store.get_entity(entity, false).await);
    ensure!(
        bare.as_ref()
            .is_some_and(|b| b.serialized_state.is_none() && b.instance_id == entity),
        "get_entity without state shows the entity without its state, got {bare:?}"
    );
    expect_no_item(store, w, "after the batch committed").await
}

/// One batch in flight per entity: a signal arriving meanwhile waits for the next batch; a
/// batch answered with failureDetails commits nothing and comes back with the same operations.
pub async fn entity_one_batch_in_flight_and_failed_batch_redelivered(store: &dyn Store) -> Outcome {
    let w = worker(store).await?;
    let entity = "@counter@b1";
    call!(store.signal_entity(signal_request(entity, "a", "r1")).await);
    let first = next_entity(store, w, entity).await?;
    ensure_eq!(op_ids(&first.req), ["r1"], "operations of the first batch");
    call!(store.signal_entity(signal_request(entity, "b", "r2")).await);
    expect_no_item(store, w, "a signal while the entity's batch is in flight").await?;
    ensure!(
        entity_state(store, entity).await?.is_none(),
        "an entity with no committed state reads as absent"
    );
    entity_done(store, &first, Some("1")).await?;
    let second = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&second.req),
        ["r2"],
        "operations of the batch after the first completed"
    );
    ensure_eq!(
        second.req.entity_state.as_deref(),
        Some("1"),
        "state handed to the second batch"
    );

    let failed = EntityBatchResult {
        results: vec![op_ok()],
        entity_state: Some("\"bad\"".to_owned()),
        failure_details: Some(TaskFailureDetails {
            error_type: "WorkerError".to_owned(),
            error_message: "the batch could not run".to_owned(),
            ..Default::default()
        }),
        completion_token: second.token.clone(),
        ..Default::default()
    };
    call!(store.complete_entity(failed).await);
    ensure_eq!(
        entity_state(store, entity).await?,
        Some(Some("1".to_owned())),
        "state after a failed batch"
    );
    // The failed batch's lease has ended: a late answer under its token is ignored.
    entity_done(store, &second, Some("\"stale\"")).await?;
    ensure_eq!(
        entity_state(store, entity).await?,
        Some(Some("1".to_owned())),
        "state after an answer under the failed batch's token"
    );
    let again = into_entity(
        drive_until_item(store, w, "a failed entity batch").await?,
        entity,
    )?;
    ensure!(
        again.token != second.token,
        "the redelivered batch reuses the failed batch's token {}",
        second.token
    );
    ensure_eq!(
        again.req.operation_requests,
        second.req.operation_requests,
        "operations of the redelivered batch"
    );
    ensure_eq!(
        again.req.entity_state.as_deref(),
        Some("1"),
        "state handed to the redelivered batch"
    );
    entity_done(store, &again, Some("2")).await?;
    let meta = call!(store.get_entity(entity, true).await);
    ensure!(
        meta.as_ref().is_some_and(
            |m| m.serialized_state.as_deref() == Some("2") && m.backlog_queue_size == 0
        ),
        "after the redelivered batch: state \"2\" and nothing queued, got {meta:?}"
    );
    expect_no_item(store, w, "after the redelivered batch committed").await
}

/// Critical sections: an orchestration's lock request is granted in its next work item; while
/// it holds the lock a client's signal is not dispatched; after the unlock it is.
pub async fn entity_lock_excludes_other_senders(store: &dyn Store) -> Outcome {
    use send_entity_message_action::EntityMessageType as Msg;
    let w = worker(store).await?;
    let id = "locker-1";
    let entity = "@counter@c2";
    let first = start(store, w, id).await?;
    let lock = Msg::EntityLockRequested(EntityLockRequestedEvent {
        critical_section_id: "cs-1".to_owned(),
        lock_set: vec![entity.to_owned()],
        position: 0,
        parent_instance_id: Some(id.to_owned()),
    });
    answer(store, &first, vec![entity_message(1, lock)]).await?;
    let granted = next_orchestration(store, w, id).await?;
    ensure_eq!(
        grants(&granted.req.new_events),
        ["cs-1"],
        "critical sections granted in the work item after the lock request"
    );

    call!(
        store
            .signal_entity(signal_request(entity, "client-op", "client-1"))
            .await
    );
    expect_no_item(
        store,
        w,
        "a client's signal to an entity locked by an orchestration",
    )
    .await?;

    let unlock = Msg::EntityUnlockSent(EntityUnlockSentEvent {
        critical_section_id: "cs-1".to_owned(),
        parent_instance_id: Some(id.to_owned()),
        target_instance_id: Some(entity.to_owned()),
    });
    answer(store, &granted, vec![entity_message(2, unlock)]).await?;
    let batch = next_entity(store, w, entity).await?;
    ensure_eq!(
        op_ids(&batch.req),
        ["client-1"],
        "operations dispatched once the lock was released"
    );
    entity_done(store, &batch, Some("1")).await?;
    let meta = call!(store.get_entity(entity, true).await);
    ensure!(
        meta.as_ref().is_some_and(|m| m.locked_by.is_none()
            && m.serialized_state.as_deref() == Some("1")
            && m.backlog_queue_size == 0),
        "after the unlock and the client's batch: unlocked, state \"1\", nothing queued, \
         got {meta:?}"
    );
    expect_no_item(store, w, "after the client's batch").await
}
