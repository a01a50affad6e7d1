//! The checks, by part of the contract. Each is a `pub async fn(&Subject) -> Outcome` that
//! starts from a fresh, empty store, and whose doc comment names the contract sentences it
//! proves.

mod entities;
mod instances;
mod leases;
mod queries;
mod reset;
pub mod restart;
pub mod sharing;
mod skipping;
mod stats;
mod time;
mod turns;
mod waiting;

pub use entities::*;
pub use instances::*;
pub use leases::*;
pub use queries::*;
pub use reset::*;
pub use skipping::*;
pub use stats::*;
pub use time::*;
pub use turns::*;
pub use waiting::*;

/// The one list of checks: calls `$then!` with it (after `$prefix`), so [`crate::CHECKS`] and
/// [`conformance_tests!`](crate::conformance_tests) are built from the same names.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_checks {
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
            scheduled_start_waits_for_its_time,
            delayed_signal_waits_for_its_time,
            time_skipping_view_and_advance,
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
            next_work_item_waits_and_is_cancel_safe,
            worker_at_its_limit_wakes_when_a_lease_ends,
            filtered_workers_are_woken_for_their_work,
            schedule_changed_tells_of_a_first_lease,
            reset_clears_everything,
            tokens_unique_across_reset,
            rewind_failed_instance,
            terminate_now_skips_the_worker,
            partial_chunks_apply_once,
            big_histories_are_left_to_streaming_workers,
            entity_signal_runs_and_commits_state,
            entity_one_batch_in_flight_and_failed_batch_redelivered,
            entity_lock_excludes_other_senders,
            abandon_back_off_doubles_up_to_its_cap,
            abandoned_orchestration_goes_to_another_worker_first,
            given_back_work_leaves_a_replacement_alone,
            given_back_work_of_an_ended_instance_is_dropped,
            concurrency_limits_hold_per_kind,
            recursive_purge_removes_children_only,
            recursive_terminate_reaches_children,
            child_with_a_taken_id_fails_in_its_parent,
            rewind_reaches_failed_children,
            history_cap_spares_continue_as_new,
            reset_frees_every_slot,
            stats_follow_changes,
            waits_outlive_a_reset,
            purging_a_locked_entity_is_refused,
            terminate_now_spares_lock_holders,
            entity_queries_page_and_filter,
            clean_entity_storage_removes_idle_stateless_entities,
            entity_filters_and_busy_purges,
            entities_start_orchestrations,
            a_held_entity_does_not_hold_up_others,
            locks_are_released_on_every_path,
            entity_batch_lease_expires,
            entity_retry_back_off_starts_afresh_after_a_commit,
        );
    };
}
