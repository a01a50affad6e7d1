//! The storage conformance suite against the in-memory store, one test per check so that a
//! failure names the check.

use dt_store::conformance::{self, CHECK_TIMEOUT, CHECKS, Outcome};
use dt_store::{MemoryStore, StoreConfig};
use std::future::Future;
use std::time::Duration;

/// The configuration the suite expects: short leases and abandon delays on the system clock.
fn store() -> MemoryStore {
    MemoryStore::new(StoreConfig {
        lease_duration: Duration::from_millis(200),
        abandon_delay: Duration::from_millis(50),
        ..Default::default()
    })
}

async fn verdict(name: &str, check: impl Future<Output = Outcome>) {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => panic!("conformance check `{name}` failed: {failure}"),
        Err(_) => panic!("conformance check `{name}` did not finish within {CHECK_TIMEOUT:?}"),
    }
}

macro_rules! conformance_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = store();
                verdict(stringify!($name), conformance::$name(&store)).await;
            }
        )+

        #[test]
        fn every_check_has_a_test() {
            let tested = [$(stringify!($name)),+];
            let listed: Vec<&str> = CHECKS.iter().map(|c| c.name).collect();
            assert_eq!(listed, tested, "conformance::CHECKS and the tests here differ");
        }
    };
}

conformance_tests![
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
];
