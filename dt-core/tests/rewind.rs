//! Rewind of a failed instance: the `executionRewound` work item, the rewritten history the
//! worker answers with, and which children come back with it.

mod support;

use dt_core::proto::history_event::EventType;
use dt_core::proto::orchestrator_action::OrchestratorActionType as Wire;
use dt_core::proto::*;
use dt_core::{CoreError, Effect, ExecutionId, RuntimeStatus};
use support::*;

/// The history the SDK sends back: old history + new events, minus failures and the end.
fn rewritten(work: &OrchestratorRequest, execution: &str) -> Vec<HistoryEvent> {
    work.past_events
        .iter()
        .chain(&work.new_events)
        .filter(|e| {
            !matches!(
                e.event_type,
                Some(
                    EventType::ExecutionCompleted(_) | EventType::SubOrchestrationInstanceFailed(_)
                )
            )
        })
        .cloned()
        .map(|mut e| {
            if let Some(EventType::ExecutionStarted(es)) = &mut e.event_type
                && let Some(instance) = &mut es.orchestration_instance
            {
                instance.execution_id = Some(execution.to_owned());
            }
            e
        })
        .collect()
}

fn rewind_action(new_history: Vec<HistoryEvent>) -> OrchestratorAction {
    OrchestratorAction {
        id: -1,
        orchestrator_action_type: Some(Wire::RewindOrchestration(RewindOrchestrationAction {
            new_history,
        })),
    }
}

#[test]
fn only_a_failed_instance_can_be_rewound() -> TestResult {
    let mut running = running_idle()?;
    let before = running.clone();
    let got = running.rewind(None, None, t(50));
    assert!(
        matches!(got, Err(CoreError::FailedPrecondition(_))),
        "{got:?}"
    );
    assert_eq!(running, before, "a refused rewind changed the instance");
    Ok(())
}

#[test]
fn rewind_dispatches_exactly_orchestrator_started_and_execution_rewound() -> TestResult {
    let mut inst = new_instance("i1");
    run_turn(&mut inst, 1, vec![fail(1, Some(failure_details("boom")))])?;
    assert_eq!(inst.status, RuntimeStatus::Failed);
    inst.rewind(Some("again".into()), None, t(2))?;
    assert_eq!(inst.status, RuntimeStatus::Running);
    assert_eq!((inst.failure.as_ref(), inst.completed_at), (None, None));
    // An event raised meanwhile must not ride in the rewind work item.
    inst.deliver(
        dt_core::events::event_raised("late".into(), None, t(3)),
        t(3),
    );
    let work = dispatch(&mut inst, 4)?;
    assert_eq!(kinds(&work.new_events), ["OS", "rewound"]);
    Ok(())
}

#[test]
fn rewritten_history_replaces_the_old_one_and_is_replayed_once() -> TestResult {
    let mut inst = new_instance("i1");
    run_turn(&mut inst, 1, vec![fail(1, Some(failure_details("boom")))])?;
    inst.rewind(None, None, t(2))?;
    let work = dispatch(&mut inst, 3)?;
    let new_history = rewritten(&work, "e2");
    let effects = inst.complete_turn(turn(vec![rewind_action(new_history.clone())])?, &ctx(3))?;
    assert!(effects.is_empty(), "{effects:?}");
    assert_eq!(inst.history.events(), new_history);
    assert_eq!(inst.execution_id, ExecutionId::new("e2"));
    assert_eq!(inst.status, RuntimeStatus::Running);
    let replay = dispatch(&mut inst, 4)?;
    assert_eq!(kinds(&replay.new_events), ["OS"]);
    assert_eq!(replay.past_events, new_history);
    Ok(())
}

#[test]
fn children_without_success_come_back_with_the_new_execution() -> TestResult {
    let mut inst = new_instance("p");
    run_turn(
        &mut inst,
        1,
        vec![
            sub_orchestration(1, "ok-child", "c", None),
            sub_orchestration(2, "bad-child", "c", None),
        ],
    )?;
    inst.deliver_result(
        &inst.execution_id.clone(),
        dt_core::events::sub_orchestration_completed(1, Some("1".into()), t(2)),
        t(2),
    );
    inst.deliver_result(
        &inst.execution_id.clone(),
        dt_core::events::sub_orchestration_failed(2, failure_details("child"), t(2)),
        t(2),
    );
    run_turn(&mut inst, 3, vec![fail(3, Some(failure_details("parent")))])?;
    inst.rewind(Some("fix".into()), None, t(4))?;
    let work = dispatch(&mut inst, 5)?;
    let effects =
        inst.complete_turn(turn(vec![rewind_action(rewritten(&work, "e2"))])?, &ctx(5))?;
    let [Effect::RewindChild { child, reason }] = effects.as_slice() else {
        return Err(format!("expected one RewindChild, got {effects:?}").into());
    };
    assert_eq!(child.id, "bad-child");
    assert_eq!(reason.as_deref(), Some("fix"));
    let parent = child.parent.as_ref().ok_or("child without parent link")?;
    assert_eq!((parent.task_id, parent.execution.as_str()), (2, "e2"));
    Ok(())
}

#[test]
fn a_second_rewind_after_a_second_failure_works() -> TestResult {
    let mut inst = new_instance("i1");
    run_turn(&mut inst, 1, vec![fail(1, Some(failure_details("one")))])?;
    for (round, execution) in [(0, "e2"), (1, "e3")] {
        inst.rewind(None, None, t(10 + round))?;
        let work = dispatch(&mut inst, 10 + round)?;
        assert_eq!(kinds(&work.new_events), ["OS", "rewound"], "round {round}");
        inst.complete_turn(
            turn(vec![rewind_action(rewritten(&work, execution))])?,
            &ctx(10 + round),
        )?;
        run_turn(
            &mut inst,
            20 + round,
            vec![fail(2, Some(failure_details("again")))],
        )?;
        assert_eq!(inst.status, RuntimeStatus::Failed, "round {round}");
        assert_eq!(inst.execution_id.as_str(), execution);
    }
    Ok(())
}
