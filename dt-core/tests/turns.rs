//! Example tests of one orchestration instance's turns against protocol.md §2: the framing of
//! work items (§2.3), the eventId replay contract (§2.4), per-action effects (§2.5), the
//! history layout (§2.6), execution scoping and terminal instances (§2.9), continue-as-new,
//! partial processing, abandon, suspend/resume, terminate, the history cap and malformed input.
//! Table-driven tests name the failing row.

mod support;

use dt_core::proto::history_event::EventType;
use dt_core::proto::*;
use dt_core::{
    Action, ActivityTask, CompletionAction, CoreError, Delivery, Effect, EventKind, ExecutionId,
    Instance, NewInstance, ParentLink, RuntimeStatus, TerminateOutcome, TimerTask, TurnContext,
    TurnResponse, events,
};
use std::collections::HashMap;
use support::*;

// ---------------------------------------------------------------------------------------------
// Framing and status
// ---------------------------------------------------------------------------------------------

#[test]
fn first_dispatch_frames_execution_started() -> TestResult {
    let mut inst = new_instance("i1");
    assert_eq!(inst.status, RuntimeStatus::Pending);
    assert!(inst.is_dispatchable(t(0)));
    let work = dispatch(&mut inst, 5)?;

    assert_eq!(work.instance_id, "i1");
    assert_eq!(work.execution_id.as_deref(), Some("e1"));
    assert!(work.past_events.is_empty());
    assert_eq!(kinds(&work.new_events), ["OS", "ES"]);
    assert_eq!(
        work.new_events[0].timestamp,
        Some(ts(5)),
        "OS stamped with dispatch time"
    );
    let Some(es) = as_started(&work.new_events[1]) else {
        panic!("second new event is not ES: {:?}", work.new_events)
    };
    assert_eq!(es.name, ORCH);
    assert_eq!(es.version.as_deref(), Some("1.0"));
    assert_eq!(es.input.as_deref(), Some("\"in\""));
    assert_eq!(
        es.tags,
        HashMap::from([("team".to_owned(), "core".to_owned())])
    );
    let Some(oi) = &es.orchestration_instance else {
        panic!("ES without orchestrationInstance: {es:?}")
    };
    assert_eq!(oi.instance_id, "i1");
    assert_eq!(oi.execution_id.as_deref(), Some("e1"));
    assert_eq!(es.parent_instance, None);
    assert!(
        work.new_events[1].timestamp.is_some(),
        "ES has a real timestamp"
    );
    assert_eq!(inst.in_flight.as_ref(), Some(&work.new_events));
    assert!(inst.inbox.is_empty());
    assert!(!inst.is_dispatchable(t(6)), "one work item at a time");
    assert_eq!(inst.dispatch(t(6)), None);
    Ok(())
}

#[test]
fn child_execution_started_carries_parent_instance() -> TestResult {
    let mut inst = new_child("c1", 7);
    let work = dispatch(&mut inst, 1)?;
    let Some(es) = work.new_events.get(1).and_then(as_started) else {
        panic!("no ES: {:?}", work.new_events)
    };
    assert_eq!(es.parent_instance, Some(parent_link(7).to_wire()));
    let Some(parent) = &es.parent_instance else {
        panic!("no parent")
    };
    assert_eq!(parent.task_scheduled_id, 7);
    assert_eq!(parent.name.as_deref(), Some("ParentOrch"));
    assert_eq!(parent.version.as_deref(), Some("2.0"));
    let oi = parent.orchestration_instance.clone().unwrap_or_default();
    assert_eq!(
        (oi.instance_id.as_str(), oi.execution_id.as_deref()),
        ("p", Some("pe1"))
    );
    Ok(())
}

#[test]
fn status_is_pending_until_the_first_commit() -> TestResult {
    let rows: Vec<(&str, Vec<OrchestratorAction>, RuntimeStatus)> = vec![
        ("no actions", vec![], RuntimeStatus::Running),
        (
            "one task",
            vec![schedule_task(1, "A", None)],
            RuntimeStatus::Running,
        ),
        (
            "one timer",
            vec![create_timer(1, 100)],
            RuntimeStatus::Running,
        ),
        (
            "completes at once",
            vec![complete(1, Some("1"))],
            RuntimeStatus::Completed,
        ),
        ("fails at once", vec![fail(1, None)], RuntimeStatus::Failed),
    ];
    for (row, actions, want) in rows {
        let mut inst = new_instance("i1");
        let work = dispatch(&mut inst, 1)?;
        assert_eq!(
            inst.status,
            RuntimeStatus::Pending,
            "row {row:?}: in flight"
        );
        inst.abandon();
        assert_eq!(
            inst.status,
            RuntimeStatus::Pending,
            "row {row:?}: after abandon"
        );
        let again = dispatch(&mut inst, 2)?;
        assert_eq!(
            kinds(&again.new_events),
            kinds(&work.new_events),
            "row {row:?}"
        );
        inst.complete_turn(turn(actions)?, &ctx(2))?;
        assert_eq!(inst.status, want, "row {row:?}: after commit");
        assert_eq!(inst.last_updated_at, t(2), "row {row:?}");
    }
    Ok(())
}

#[test]
fn history_layout_of_one_activity() -> TestResult {
    let s = one_activity_then_complete()?;
    let inst = &s.instance;
    assert_eq!(
        kinds_ids(&inst.history),
        [
            ("OS", -1),
            ("ES", -1),
            ("taskScheduled", 1),
            ("OC", -1),
            ("OS", -1),
            ("taskCompleted", -1),
            ("OC", -1),
            ("EC", -1),
        ]
    );
    // The second work item saw the first one's history as past events.
    assert_eq!(s.dispatches[1].past_events, inst.history[..4].to_vec());
    assert_eq!(kinds(&s.dispatches[1].new_events), ["OS", "taskCompleted"]);
    let Some(EventType::TaskCompleted(done)) = &inst.history[5].event_type else {
        panic!("not a taskCompleted: {:?}", inst.history[5])
    };
    assert_eq!(done.task_scheduled_id, 1);
    assert_eq!(done.result.as_deref(), Some("\"hi\""));
    let Some(EventType::TaskScheduled(sched)) = &inst.history[2].event_type else {
        panic!("not a taskScheduled: {:?}", inst.history[2])
    };
    assert_eq!(sched.name, "Greet");
    assert_eq!(sched.input.as_deref(), Some("\"x\""));
    let Some(ec) = inst.history.last().and_then(as_completed) else {
        panic!("no EC")
    };
    assert_eq!(
        ec.orchestration_status,
        OrchestrationStatus::Completed as i32
    );
    assert_eq!(ec.result.as_deref(), Some("\"done\""));
    assert_eq!(ec.failure_details, None);
    // Timestamps: framing events carry the times of their work items.
    assert_eq!(inst.history[0].timestamp, Some(ts(1)));
    assert_eq!(inst.history[2].timestamp, Some(ts(1)));
    assert_eq!(inst.history[4].timestamp, Some(ts(3)));
    assert_eq!(inst.history[7].timestamp, Some(ts(3)));
    assert_eq!(inst.status, RuntimeStatus::Completed);
    assert_eq!(inst.output.as_deref(), Some("\"done\""));
    assert_eq!(s.effects[1], vec![], "a top-level instance notifies nobody");
    Ok(())
}

#[test]
fn confirmation_event_ids_equal_action_ids() -> TestResult {
    let mut inst = new_instance("i1");
    let actions = vec![
        schedule_task(3, "A", None),
        create_timer(4, 50),
        sub_orchestration(5, "kid", "Child", None),
        send_event(6, "other", "ping", None),
        terminate_action(7, "victim", None, false),
        schedule_task(9, "B", None),
    ];
    run_turn(&mut inst, 1, actions)?;
    assert_eq!(
        kinds_ids(&inst.history),
        [
            ("OS", -1),
            ("ES", -1),
            ("taskScheduled", 3),
            ("timerCreated", 4),
            ("subOrchCreated", 5),
            ("eventSent", 6),
            ("taskScheduled", 9),
            ("OC", -1),
        ],
        "terminateOrchestration leaves no confirmation"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Effects per action
// ---------------------------------------------------------------------------------------------

#[test]
fn effects_per_action() -> TestResult {
    let tags = HashMap::from([("k".to_owned(), "v".to_owned())]);
    let trace = TraceContext {
        trace_parent: "00-abc-def-01".to_owned(),
        ..Default::default()
    };
    let full_task = OrchestratorAction {
        id: 1,
        orchestrator_action_type: Some(orchestrator_action::OrchestratorActionType::ScheduleTask(
            ScheduleTaskAction {
                name: "Act".to_owned(),
                version: Some("v3".to_owned()),
                input: Some("42".to_owned()),
                tags: tags.clone(),
                parent_trace_context: Some(trace.clone()),
            },
        )),
    };
    let link = |task_id| ParentLink {
        instance: "i1".into(),
        execution: ExecutionId::new("e1"),
        task_id,
        name: ORCH.to_owned(),
        version: Some("1.0".to_owned()),
    };
    let rows: Vec<(&str, OrchestratorAction, Vec<Effect>, &str)> = vec![
        (
            "scheduleTask",
            full_task,
            vec![Effect::ScheduleActivity(ActivityTask {
                instance: "i1".into(),
                execution: ExecutionId::new("e1"),
                task_id: 1,
                name: "Act".to_owned(),
                version: Some("v3".to_owned()),
                input: Some("42".to_owned()),
                parent_trace_context: Some(trace.clone()),
                tags: tags.clone(),
            })],
            "taskScheduled",
        ),
        (
            "createTimer",
            create_timer(2, 100),
            vec![Effect::CreateTimer(TimerTask {
                instance: "i1".into(),
                execution: ExecutionId::new("e1"),
                timer_id: 2,
                fire_at: ts(100),
            })],
            "timerCreated",
        ),
        (
            "createSubOrchestration with default id",
            sub_orchestration(10, "", "Child", Some("\"c\"")),
            vec![Effect::StartChild(NewInstance {
                id: "i1:000a".to_owned(),
                name: "Child".to_owned(),
                input: Some("\"c\"".to_owned()),
                parent: Some(link(10)),
                ..Default::default()
            })],
            "subOrchCreated",
        ),
        (
            "createSubOrchestration with a 4-digit default id",
            sub_orchestration(0x1234, "", "Child", None),
            vec![Effect::StartChild(NewInstance {
                id: "i1:1234".to_owned(),
                name: "Child".to_owned(),
                parent: Some(link(0x1234)),
                ..Default::default()
            })],
            "subOrchCreated",
        ),
        (
            "createSubOrchestration with explicit id",
            sub_orchestration(3, "kid", "Child", None),
            vec![Effect::StartChild(NewInstance {
                id: "kid".to_owned(),
                name: "Child".to_owned(),
                parent: Some(link(3)),
                ..Default::default()
            })],
            "subOrchCreated",
        ),
        (
            "sendEvent to another instance",
            send_event(4, "other", "ping", Some("\"p\"")),
            vec![Effect::SendEvent {
                target: "other".into(),
                event: events::event_raised("ping".to_owned(), Some("\"p\"".to_owned()), t(1)),
            }],
            "eventSent",
        ),
        (
            "terminateOrchestration",
            terminate_action(5, "victim", Some("bye"), true),
            vec![Effect::Terminate {
                target: "victim".into(),
                reason: Some("bye".to_owned()),
                recurse: true,
            }],
            "OC",
        ),
    ];
    for (row, action, want, confirmation) in rows {
        let id = action.id;
        let mut inst = new_instance("i1");
        let (_, effects) = run_turn(&mut inst, 1, vec![action])?;
        assert_eq!(effects, want, "row {row:?}: effects");
        let Some(third) = inst.history.get(2) else {
            panic!("row {row:?}: short history {:?}", kinds(&inst.history))
        };
        assert_eq!(kind(third), confirmation, "row {row:?}: confirmation kind");
        if confirmation != "OC" {
            assert_eq!(third.event_id, id, "row {row:?}: confirmation eventId");
            assert_eq!(
                third.timestamp,
                Some(ts(1)),
                "row {row:?}: confirmation time"
            );
        }
        assert_eq!(
            inst.children().len(),
            usize::from(confirmation == "subOrchCreated"),
            "row {row:?}"
        );
    }
    Ok(())
}

#[test]
fn sub_orchestration_created_event_names_the_child() -> TestResult {
    let mut inst = new_instance("i1");
    run_turn(
        &mut inst,
        1,
        vec![sub_orchestration(10, "", "Child", Some("5"))],
    )?;
    let Some(EventType::SubOrchestrationInstanceCreated(c)) = &inst.history[2].event_type else {
        panic!("not subOrchCreated: {:?}", inst.history)
    };
    assert_eq!(
        (c.instance_id.as_str(), c.name.as_str()),
        ("i1:000a", "Child")
    );
    assert_eq!(c.input.as_deref(), Some("5"));
    assert_eq!(inst.children(), vec![dt_core::InstanceId::new("i1:000a")]);
    Ok(())
}

#[test]
fn send_event_to_self_is_queued_unless_the_turn_completes() -> TestResult {
    let mut inst = new_instance("i1");
    let (_, effects) = run_turn(&mut inst, 1, vec![send_event(1, "i1", "loop", Some("1"))])?;
    assert_eq!(effects, vec![], "no SendEvent effect to self");
    assert_eq!(kinds(&inst.inbox), ["eventRaised"]);
    assert_eq!(inst.inbox.front().and_then(raised_name), Some("loop"));
    assert_eq!(inst.history[2].event_id, 1);
    assert_eq!(kind(&inst.history[2]), "eventSent");

    let mut done = new_instance("i1");
    run_turn(
        &mut done,
        1,
        vec![send_event(1, "i1", "loop", None), complete(2, None)],
    )?;
    assert!(
        done.inbox.is_empty(),
        "events to self are dropped at completion"
    );
    assert_eq!(done.status, RuntimeStatus::Completed);
    Ok(())
}

#[test]
fn child_notifies_parent_when_it_ends() -> TestResult {
    let details = failure_details("boom");
    let rows: Vec<(&str, Vec<OrchestratorAction>, HistoryEvent)> = vec![
        (
            "completed",
            vec![complete(1, Some("\"r\""))],
            events::sub_orchestration_completed(7, Some("\"r\"".to_owned()), t(1)),
        ),
        (
            "failed with details",
            vec![fail(1, Some(details.clone()))],
            events::sub_orchestration_failed(7, details.clone(), t(1)),
        ),
    ];
    for (row, actions, want) in rows {
        let mut child = new_child("c1", 7);
        let (_, effects) = run_turn(&mut child, 1, actions)?;
        assert_eq!(
            effects,
            vec![Effect::NotifyParent {
                parent: parent_link(7),
                event: want
            }],
            "row {row:?}"
        );
    }
    Ok(())
}

#[test]
fn child_failure_without_details_or_by_termination_still_reaches_parent() -> TestResult {
    // Failed without details: the parent still gets a subOrchestrationInstanceFailed.
    let mut child = new_child("c1", 7);
    let (_, effects) = run_turn(&mut child, 1, vec![fail(1, None)])?;
    let [Effect::NotifyParent { parent, event }] = effects.as_slice() else {
        panic!("expected one NotifyParent: {effects:?}")
    };
    assert_eq!(parent, &parent_link(7));
    let Some(EventType::SubOrchestrationInstanceFailed(f)) = &event.event_type else {
        panic!("not subOrchFailed: {event:?}")
    };
    assert_eq!(f.task_scheduled_id, 7);
    assert!(f.failure_details.is_some());

    // Terminated through the worker: details synthesized, message carries the reason.
    let rows: Vec<(&str, bool)> = vec![("running child", true), ("never-dispatched child", false)];
    for (row, run_first) in rows {
        let mut child = new_child("c1", 7);
        if run_first {
            run_turn(&mut child, 1, vec![])?;
        }
        let effects = match child.terminate(Some("stop it".to_owned()), false, t(2)) {
            TerminateOutcome::Terminated(effects) => effects,
            TerminateOutcome::Requested => {
                let work = dispatch(&mut child, 3)?;
                assert_eq!(kinds(&work.new_events), ["OS", "terminated"], "row {row:?}");
                let ack = complete_with(2, OrchestrationStatus::Terminated, Some("stop it"));
                child.complete_turn(turn(vec![ack])?, &ctx(3))?
            }
            TerminateOutcome::Ignored => panic!("row {row:?}: terminate ignored"),
        };
        let [Effect::NotifyParent { parent, event }] = effects.as_slice() else {
            panic!("row {row:?}: expected one NotifyParent: {effects:?}")
        };
        assert_eq!(parent, &parent_link(7), "row {row:?}");
        let Some(EventType::SubOrchestrationInstanceFailed(f)) = &event.event_type else {
            panic!("row {row:?}: not subOrchFailed: {event:?}")
        };
        assert_eq!(f.task_scheduled_id, 7, "row {row:?}");
        let msg = f.failure_details.as_ref().map(|d| d.error_message.as_str());
        assert!(
            msg.is_some_and(|m| m.contains("stop it")),
            "row {row:?}: reason not in {msg:?}"
        );
        assert_eq!(child.status, RuntimeStatus::Terminated, "row {row:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Completion and terminal instances
// ---------------------------------------------------------------------------------------------

#[test]
fn completion_sets_status_output_failure_and_clears_pending_work() -> TestResult {
    let details = failure_details("bad");
    // (row, final action, status, output, failure details)
    type Row = (
        &'static str,
        OrchestratorAction,
        RuntimeStatus,
        Option<&'static str>,
        Option<TaskFailureDetails>,
    );
    let rows: Vec<Row> = vec![
        (
            "completed",
            complete(2, Some("\"ok\"")),
            RuntimeStatus::Completed,
            Some("\"ok\""),
            None,
        ),
        (
            "failed",
            fail(2, Some(details.clone())),
            RuntimeStatus::Failed,
            None,
            Some(details.clone()),
        ),
        (
            "terminated",
            complete_with(2, OrchestrationStatus::Terminated, Some("why")),
            RuntimeStatus::Terminated,
            Some("why"),
            None,
        ),
        (
            "canceled (obsolete) counts as terminated",
            complete_with(2, OrchestrationStatus::Canceled, None),
            RuntimeStatus::Terminated,
            None,
            None,
        ),
    ];
    for (row, action, status, output, failure) in rows {
        let (mut inst, task) = running_with_one_activity()?;
        inst.deliver(events::event_raised("early".into(), None, t(2)), t(2));
        dispatch(&mut inst, 3)?;
        // Arrive while the final work item is in flight: must be discarded at completion.
        inst.deliver(events::event_raised("late".into(), None, t(4)), t(4));
        inst.deliver_result(&task.execution, task.result_event(None, None, t(4)), t(4));
        inst.suspend(None, t(4));
        inst.complete_turn(turn(vec![action])?, &ctx(5))?;

        assert_eq!(inst.status, status, "row {row:?}");
        assert_eq!(inst.output.as_deref(), output, "row {row:?}");
        assert_eq!(inst.failure.as_deref(), failure.as_ref(), "row {row:?}");
        assert_eq!(inst.completed_at, Some(t(5)), "row {row:?}");
        assert_eq!(inst.last_updated_at, t(5), "row {row:?}");
        assert!(
            inst.inbox.is_empty(),
            "row {row:?}: inbox {:?}",
            kinds(&inst.inbox)
        );
        assert_eq!(inst.in_flight, None, "row {row:?}");
        assert!(!inst.suspend_requested, "row {row:?}");
        assert!(inst.is_terminal(), "row {row:?}");
        let Some(ec) = inst.history.last().and_then(as_completed) else {
            panic!(
                "row {row:?}: no EC at the end of {:?}",
                kinds(&inst.history)
            )
        };
        assert_eq!(
            ec.orchestration_status,
            status.to_wire() as i32,
            "row {row:?}"
        );
        assert_eq!(ec.result.as_deref(), output, "row {row:?}");
        assert_eq!(ec.failure_details, failure, "row {row:?}");
        assert_eq!(
            kinds(&inst.history[4..]),
            ["OS", "eventRaised", "OC", "EC"],
            "row {row:?}"
        );
    }
    Ok(())
}

#[test]
fn actions_after_the_completion_are_not_applied() -> TestResult {
    let mut inst = new_instance("i1");
    let (_, effects) = run_turn(
        &mut inst,
        1,
        vec![
            schedule_task(1, "A", None),
            complete(2, None),
            schedule_task(3, "B", None),
        ],
    )?;
    assert_eq!(
        kinds(&inst.history),
        ["OS", "ES", "taskScheduled", "OC", "EC"]
    );
    assert_eq!(effects.len(), 1, "{effects:?}");
    Ok(())
}

#[test]
fn terminal_instance_drops_everything_and_is_never_dispatched() -> TestResult {
    let rows: Vec<(&str, OrchestratorAction)> = vec![
        ("completed", complete(2, Some("1"))),
        ("failed", fail(2, Some(failure_details("x")))),
        (
            "terminated",
            complete_with(2, OrchestrationStatus::Terminated, None),
        ),
    ];
    for (row, end) in rows {
        let (mut inst, task) = running_with_one_activity()?;
        inst.deliver_result(&task.execution, task.result_event(None, None, t(2)), t(2));
        run_turn(&mut inst, 2, vec![end])?;
        let frozen = inst.clone();
        let later = [10, 1_000_000];
        for now in later {
            assert_eq!(
                inst.deliver(events::event_raised("e".into(), None, t(now)), t(now)),
                Delivery::Dropped,
                "row {row:?}"
            );
            assert_eq!(
                inst.deliver_result(
                    &task.execution,
                    task.result_event(None, None, t(now)),
                    t(now)
                ),
                Delivery::Dropped,
                "row {row:?}"
            );
            assert!(!inst.suspend(None, t(now)), "row {row:?}");
            assert!(!inst.resume(None, t(now)), "row {row:?}");
            assert_eq!(
                inst.terminate(Some("r".into()), true, t(now)),
                TerminateOutcome::Ignored,
                "row {row:?}"
            );
            assert!(!inst.is_dispatchable(t(now)), "row {row:?}");
            assert_eq!(inst.dispatch(t(now)), None, "row {row:?}");
            inst.abandon();
            assert!(
                matches!(
                    inst.complete_turn(turn(vec![])?, &ctx(now)),
                    Err(CoreError::NoWorkInFlight(_))
                ),
                "row {row:?}"
            );
        }
        assert_eq!(inst, frozen, "row {row:?}: a terminal instance changed");
    }
    Ok(())
}

#[test]
fn results_of_another_execution_are_dropped() -> TestResult {
    let (mut inst, task) = running_with_one_activity()?;
    let before = inst.clone();
    let stale = ActivityTask {
        execution: ExecutionId::new("e0"),
        ..task.clone()
    };
    let got = inst.deliver_result(&stale.execution, stale.result_event(None, None, t(2)), t(2));
    assert_eq!(got, Delivery::Dropped);
    assert_eq!(inst, before);
    let got = inst.deliver_result(&task.execution, task.result_event(None, None, t(2)), t(2));
    assert_eq!(got, Delivery::Queued);
    assert_eq!(kinds(&inst.inbox), ["taskCompleted"]);
    assert_eq!(inst.last_updated_at, t(2));
    Ok(())
}

#[test]
fn activity_failure_is_decided_by_details_not_message() -> TestResult {
    let (_, task) = running_with_one_activity()?;
    let empty = TaskFailureDetails::default();
    let rows: Vec<(&str, Option<TaskFailureDetails>, &str)> = vec![
        ("no details", None, "taskCompleted"),
        ("details with an empty message", Some(empty), "taskFailed"),
        ("details", Some(failure_details("x")), "taskFailed"),
    ];
    for (row, failure, want) in rows {
        let event = task.result_event(Some("r".into()), failure, t(2));
        assert_eq!(kind(&event), want, "row {row:?}");
        assert_eq!(event.event_id, -1, "row {row:?}");
    }
    let request = task.to_request();
    assert_eq!(request.task_id, 1);
    assert_eq!(request.name, "Greet");
    let oi = request.orchestration_instance.unwrap_or_default();
    assert_eq!(
        (oi.instance_id.as_str(), oi.execution_id.as_deref()),
        ("i1", Some("e1"))
    );
    Ok(())
}

#[test]
fn complete_turn_without_work_in_flight_is_an_error_and_changes_nothing() -> TestResult {
    let mut fresh = new_instance("i1");
    let running = running_idle()?;
    let done = one_activity_then_complete()?.instance;
    let mut abandoned = new_instance("i1");
    dispatch(&mut abandoned, 1)?;
    abandoned.abandon();
    fresh.deliver(events::event_raised("x".into(), None, t(1)), t(1));
    let rows: Vec<(&str, Instance)> = vec![
        ("fresh", fresh),
        ("running", running),
        ("completed", done),
        ("abandoned", abandoned),
    ];
    for (row, mut inst) in rows {
        let before = inst.clone();
        let got = inst.complete_turn(turn(vec![complete(9, None)])?, &ctx(50));
        assert_eq!(
            got,
            Err(CoreError::NoWorkInFlight("i1".to_owned())),
            "row {row:?}"
        );
        assert_eq!(inst, before, "row {row:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Continue-as-new
// ---------------------------------------------------------------------------------------------

#[test]
fn continue_as_new_starts_a_fresh_execution() -> TestResult {
    let (mut inst, task) = running_with_one_activity()?;
    inst.deliver_result(
        &task.execution,
        task.result_event(Some("1".into()), None, t(2)),
        t(2),
    );
    let work = dispatch(&mut inst, 3)?;
    assert_eq!(kinds(&work.new_events), ["OS", "taskCompleted"]);
    // Arrive while the last work item of e1 is in flight.
    inst.deliver(events::event_raised("ext1".into(), None, t(4)), t(4));
    inst.deliver_result(&task.execution, task.result_event(None, None, t(4)), t(4));
    inst.deliver(events::event_raised("ext2".into(), None, t(4)), t(4));
    let carry = vec![
        events::event_raised("c1".into(), Some("1".into()), t(3)),
        events::event_raised("c2".into(), None, t(3)),
    ];
    let cx = TurnContext {
        now: t(5),
        next_execution_id: ExecutionId::new("e2"),
        max_history_size: 10_000,
    };
    let response = turn(vec![
        schedule_task(2, "Ignored", None),
        continue_as_new(3, Some("\"next\""), Some("2.0"), carry.clone()),
    ])?;
    let effects = inst.complete_turn(response, &cx)?;

    assert_eq!(inst.execution_id, ExecutionId::new("e2"));
    assert_eq!(inst.status, RuntimeStatus::Running);
    assert!(inst.history.is_empty(), "history of e1 is discarded");
    assert_eq!(inst.input.as_deref(), Some("\"next\""));
    assert_eq!(inst.version.as_deref(), Some("2.0"));
    assert_eq!(
        (inst.output.clone(), inst.failure.clone(), inst.completed_at),
        (None, None, None)
    );
    assert_eq!(
        kinds(&inst.inbox),
        [
            "ES",
            "eventRaised",
            "eventRaised",
            "eventRaised",
            "eventRaised"
        ],
        "ES, carryover, arrivals; the result of e1 is dropped"
    );
    let names: Vec<_> = inst.inbox.iter().filter_map(raised_name).collect();
    assert_eq!(names, ["c1", "c2", "ext1", "ext2"]);
    assert_eq!(inst.inbox.get(1), carry.first(), "carryover kept verbatim");
    let Some(es) = inst.inbox.front().and_then(as_started) else {
        panic!("no ES first")
    };
    assert_eq!(
        (es.name.as_str(), es.version.as_deref()),
        (ORCH, Some("2.0"))
    );
    assert_eq!(es.input.as_deref(), Some("\"next\""));
    assert_eq!(es.tags, spec("i1").tags);
    let oi = es.orchestration_instance.clone().unwrap_or_default();
    assert_eq!(oi.execution_id.as_deref(), Some("e2"));
    // Work scheduled by the old execution stays tied to it; a late result for e1 is dropped.
    assert!(
        effects.iter().all(|e| match e {
            Effect::ScheduleActivity(a) => a.execution.as_str() == "e1",
            _ => true,
        }),
        "{effects:?}"
    );
    let late = inst.deliver_result(&task.execution, task.result_event(None, None, t(6)), t(6));
    assert_eq!(late, Delivery::Dropped);

    let next = dispatch(&mut inst, 7)?;
    assert_eq!(next.execution_id.as_deref(), Some("e2"));
    assert!(next.past_events.is_empty());
    assert_eq!(kinds(&next.new_events)[..2], ["OS", "ES"]);
    inst.complete_turn(turn(vec![schedule_task(1, "A", None)])?, &ctx(7))?;
    assert_eq!(
        kinds_ids(&inst.history)[..3],
        [("OS", -1), ("ES", -1), ("eventRaised", -1)]
    );
    Ok(())
}

#[test]
fn continue_as_new_without_version_keeps_the_old_one_and_the_parent() -> TestResult {
    let mut child = new_child("c1", 7);
    run_turn(
        &mut child,
        1,
        vec![continue_as_new(1, Some("2"), None, vec![])],
    )?;
    assert_eq!(child.version.as_deref(), Some("1.0"));
    let Some(es) = child.inbox.front().and_then(as_started) else {
        panic!("no ES: {:?}", child.inbox)
    };
    assert_eq!(es.version.as_deref(), Some("1.0"));
    assert_eq!(es.parent_instance, Some(parent_link(7).to_wire()));
    assert_eq!(child.parent.as_deref(), Some(&parent_link(7)));
    // The new execution completing still notifies the same parent execution.
    let (_, effects) = run_turn(&mut child, 2, vec![complete(1, Some("x"))])?;
    assert_eq!(
        effects,
        vec![Effect::NotifyParent {
            parent: parent_link(7),
            event: events::sub_orchestration_completed(7, Some("x".into()), t(2)),
        }]
    );
    Ok(())
}

#[test]
fn continue_as_new_keeps_lifecycle_requests_that_arrived_in_flight() -> TestResult {
    let mut inst = running_idle()?;
    inst.deliver(events::event_raised("x".into(), None, t(2)), t(2));
    dispatch(&mut inst, 2)?;
    assert!(inst.suspend(Some("pause".into()), t(3)));
    inst.complete_turn(turn(vec![continue_as_new(1, None, None, vec![])])?, &ctx(4))?;
    assert_eq!(kinds(&inst.inbox), ["ES", "suspended"]);
    assert!(inst.suspend_requested);
    run_turn(&mut inst, 5, vec![])?;
    assert_eq!(inst.status, RuntimeStatus::Suspended);
    Ok(())
}

/// BUG (dt-core/src/turn.rs `continue_as_new`): when the work item that continues as new
/// itself carried the `executionSuspended`, that event is committed to the old history and
/// discarded with it, the new execution is `Running` and never hears of the suspension, yet
/// `suspend_requested` stays `true`. A later `suspend()` is then ignored, and a `resume()`
/// queues `executionResumed` for an execution that is not suspended (which the Python worker
/// treats as a fatal error, §2.3).
#[test]
fn continue_as_new_does_not_leave_a_stale_suspension_behind() -> TestResult {
    let mut inst = running_idle()?;
    assert!(inst.suspend(None, t(2)));
    let work = dispatch(&mut inst, 3)?;
    assert_eq!(kinds(&work.new_events), ["OS", "suspended"]);
    inst.complete_turn(
        turn(vec![continue_as_new(1, Some("2"), None, vec![])])?,
        &ctx(4),
    )?;
    assert_eq!(inst.status, RuntimeStatus::Running);
    let will_see_suspend = inst
        .inbox
        .iter()
        .any(|e| EventKind::of(e) == EventKind::Suspended);
    assert_eq!(
        inst.suspend_requested,
        will_see_suspend,
        "suspend_requested is {} but the new execution {} be suspended (inbox {:?})",
        inst.suspend_requested,
        if will_see_suspend { "will" } else { "will not" },
        kinds(&inst.inbox)
    );
    let mut resumed = inst.clone();
    assert!(
        !resumed.resume(None, t(5)),
        "resume queued executionResumed for a running execution: {:?}",
        kinds(&resumed.inbox)
    );
    assert!(
        inst.suspend(None, t(5)),
        "suspend of the running new execution was ignored"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Partial processing, abandon, framing time
// ---------------------------------------------------------------------------------------------

#[test]
fn num_events_processed_commits_a_prefix_and_requeues_the_rest() -> TestResult {
    // In flight: OS, taskCompleted, eventRaised a, eventRaised b; then "late" arrives.
    let rows: Vec<(&str, Option<i32>, usize)> = vec![
        ("absent = all", None, 4),
        ("all", Some(4), 4),
        ("more than sent", Some(99), 4),
        ("OS only", Some(1), 1),
        ("OS and one", Some(2), 2),
        ("all but one", Some(3), 3),
    ];
    for (row, n, committed) in rows {
        let (mut inst, task) = running_with_one_activity()?;
        inst.deliver_result(&task.execution, task.result_event(None, None, t(2)), t(2));
        inst.deliver(events::event_raised("a".into(), None, t(2)), t(2));
        inst.deliver(events::event_raised("b".into(), None, t(2)), t(2));
        let work = dispatch(&mut inst, 3)?;
        inst.deliver(events::event_raised("late".into(), None, t(4)), t(4));
        let response = TurnResponse::try_from(OrchestratorResponse {
            num_events_processed: n,
            ..response(vec![create_timer(2, 100)])
        })?;
        inst.complete_turn(response, &ctx(5))?;

        let past = 4;
        assert_eq!(
            inst.history[past..past + committed],
            work.new_events[..committed],
            "row {row:?}: committed prefix"
        );
        assert_eq!(
            kinds_ids(&inst.history[past + committed..]),
            [("timerCreated", 2), ("OC", -1)],
            "row {row:?}: confirmations follow the committed prefix"
        );
        let mut want: Vec<_> = work.new_events[committed..].to_vec();
        want.push(events::event_raised("late".into(), None, t(4)));
        assert_eq!(
            inst.inbox, want,
            "row {row:?}: requeued at the front, in order"
        );
        let next = dispatch(&mut inst, 6)?;
        assert_eq!(
            kinds(&next.new_events)
                .iter()
                .filter(|k| **k == "OS")
                .count(),
            1,
            "row {row:?}: one framing OS in {:?}",
            kinds(&next.new_events)
        );
        assert_eq!(next.new_events[1..], want[..], "row {row:?}");
    }
    Ok(())
}

/// BUG (dt-core/src/turn.rs `complete_turn`): with `numEventsProcessed = 0` the unprocessed
/// events are requeued *including* the work item's framing `orchestratorStarted` (unlike
/// `abandon`, which drops it), so the next work item starts `[OS(new), OS(old), ES]`: two
/// framing events with the clock going backwards, and the ES no longer right after the OS
/// (§2.3). The turn also commits an `orchestratorCompleted` with no `orchestratorStarted`.
#[test]
fn num_events_processed_zero_requeues_without_the_framing_event() -> TestResult {
    let mut inst = new_instance("i1");
    dispatch(&mut inst, 1)?;
    let response = TurnResponse::try_from(OrchestratorResponse {
        num_events_processed: Some(0),
        ..response(vec![])
    })?;
    inst.complete_turn(response, &ctx(2))?;
    assert_eq!(kinds(&inst.inbox), ["ES"], "requeued events");
    let next = dispatch(&mut inst, 3)?;
    assert_eq!(kinds(&next.new_events), ["OS", "ES"]);
    Ok(())
}

#[test]
fn abandon_returns_in_flight_events_to_the_front_in_order() -> TestResult {
    let (mut inst, task) = running_with_one_activity()?;
    let a = events::event_raised("a".into(), None, t(2));
    let done = task.result_event(None, None, t(2));
    inst.deliver(a.clone(), t(2));
    inst.deliver_result(&task.execution, done.clone(), t(2));
    let first = dispatch(&mut inst, 3)?;
    let late = events::event_raised("late".into(), None, t(4));
    inst.deliver(late.clone(), t(4));
    let history = inst.history.clone();
    inst.abandon();
    assert_eq!(inst.in_flight, None);
    assert_eq!(inst.inbox, vec![a.clone(), done.clone(), late.clone()]);
    assert_eq!(inst.history, history, "abandon commits nothing");
    assert_eq!(inst.status, RuntimeStatus::Running);
    let before = inst.clone();
    inst.abandon();
    assert_eq!(inst, before, "abandon with nothing in flight is a no-op");

    let second = dispatch(&mut inst, 9)?;
    assert_eq!(second.past_events, first.past_events);
    assert_eq!(second.new_events[1..], [a, done, late]);
    assert_eq!(
        second.new_events[0].timestamp,
        Some(ts(9)),
        "a fresh framing OS"
    );
    Ok(())
}

#[test]
fn framing_time_is_never_before_a_delivered_timer() -> TestResult {
    // (now, fire_at of each timer delivered, expected OS time)
    let rows: Vec<(&str, i64, Vec<i64>, i64)> = vec![
        ("no timer", 50, vec![], 50),
        ("timer in the past", 50, vec![20], 50),
        ("timer exactly now", 50, vec![50], 50),
        ("timer ahead of the clock", 50, vec![80], 80),
        ("two timers, latest wins", 50, vec![70, 90], 90),
        ("two timers, order irrelevant", 50, vec![90, 70], 90),
    ];
    for (row, now, fires, want) in rows {
        let mut inst = running_idle()?;
        for (i, fire) in fires.iter().enumerate() {
            let tt = TimerTask {
                instance: inst.id.clone(),
                execution: inst.execution_id.clone(),
                timer_id: i32::try_from(i)? + 1,
                fire_at: ts(*fire),
            };
            assert_eq!(tt.due(), t(*fire), "row {row:?}");
            let fired = tt.fired_event(t(10));
            let Some(EventType::TimerFired(f)) = &fired.event_type else {
                panic!("row {row:?}: not timerFired")
            };
            assert_eq!(
                (f.timer_id, f.fire_at),
                (tt.timer_id, Some(ts(*fire))),
                "row {row:?}"
            );
            inst.deliver_result(&tt.execution, fired, t(10));
        }
        if fires.is_empty() {
            inst.deliver(events::event_raised("x".into(), None, t(10)), t(10));
        }
        let work = dispatch(&mut inst, now)?;
        assert_eq!(work.new_events[0].timestamp, Some(ts(want)), "row {row:?}");
        inst.complete_turn(turn(vec![])?, &ctx(now))?;
        assert_eq!(
            inst.history[3].timestamp,
            Some(ts(want)),
            "row {row:?}: committed OS"
        );
    }
    Ok(())
}

#[test]
fn custom_status_and_trace_context_follow_the_worker() -> TestResult {
    let mut inst = new_instance("i1");
    let trace = OrchestrationTraceContext {
        span_id: Some("span".into()),
        span_start_time: Some(ts(1)),
    };
    dispatch(&mut inst, 1)?;
    let r = TurnResponse::try_from(OrchestratorResponse {
        custom_status: Some("\"half\"".into()),
        orchestration_trace_context: Some(trace.clone()),
        ..response(vec![create_timer(1, 5)])
    })?;
    inst.complete_turn(r, &ctx(1))?;
    assert_eq!(inst.custom_status.as_deref(), Some("\"half\""));
    inst.deliver(events::event_raised("x".into(), None, t(2)), t(2));
    let work = dispatch(&mut inst, 3)?;
    assert_eq!(work.orchestration_trace_context, Some(trace.clone()));
    inst.complete_turn(turn(vec![])?, &ctx(3))?;
    assert_eq!(inst.custom_status, None, "absent custom status clears it");
    assert_eq!(
        inst.trace_context.as_deref(),
        Some(&trace),
        "absent trace context keeps the last one"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Suspend and resume
// ---------------------------------------------------------------------------------------------

#[test]
fn suspend_and_resume_pair_up() -> TestResult {
    // Requests on a running idle instance: (row, requests, accepted flags, queued kinds).
    type Row = (
        &'static str,
        Vec<&'static str>,
        Vec<bool>,
        Vec<&'static str>,
    );
    let rows: Vec<Row> = vec![
        (
            "resume without suspend",
            vec!["resume"],
            vec![false],
            vec![],
        ),
        (
            "suspend twice",
            vec!["suspend", "suspend"],
            vec![true, false],
            vec!["suspended"],
        ),
        (
            "suspend then resume",
            vec!["suspend", "resume"],
            vec![true, true],
            vec!["suspended", "resumed"],
        ),
        (
            "suspend, resume, resume",
            vec!["suspend", "resume", "resume"],
            vec![true, true, false],
            vec!["suspended", "resumed"],
        ),
        (
            "suspend, resume, suspend",
            vec!["suspend", "resume", "suspend"],
            vec![true, true, true],
            vec!["suspended", "resumed", "suspended"],
        ),
    ];
    for (row, requests, accepted, queued) in rows {
        let mut inst = running_idle()?;
        let got: Vec<bool> = requests
            .iter()
            .map(|r| match *r {
                "suspend" => inst.suspend(Some("why".into()), t(2)),
                _ => inst.resume(None, t(2)),
            })
            .collect();
        assert_eq!(got, accepted, "row {row:?}: accepted");
        assert_eq!(kinds(&inst.inbox), queued, "row {row:?}: queued");
        if !queued.is_empty() {
            run_turn(&mut inst, 3, vec![])?;
            let want = if queued.last() == Some(&"suspended") {
                RuntimeStatus::Suspended
            } else {
                RuntimeStatus::Running
            };
            assert_eq!(inst.status, want, "row {row:?}: status after commit");
        }
    }
    Ok(())
}

#[test]
fn suspended_instance_waits_for_resume_or_terminate() -> TestResult {
    let mut inst = running_idle()?;
    assert!(inst.suspend(Some("pause".into()), t(2)));
    assert_eq!(
        inst.status,
        RuntimeStatus::Running,
        "suspended only once committed"
    );
    run_turn(&mut inst, 3, vec![])?;
    assert_eq!(inst.status, RuntimeStatus::Suspended);
    let Some(EventType::ExecutionSuspended(s)) = &inst.history[4].event_type else {
        panic!("no suspended event: {:?}", kinds(&inst.history))
    };
    assert_eq!(s.input.as_deref(), Some("pause"));

    assert_eq!(
        inst.deliver(events::event_raised("e".into(), None, t(4)), t(4)),
        Delivery::Queued
    );
    assert!(
        !inst.is_dispatchable(t(4)),
        "only an eventRaised: stays asleep"
    );
    assert_eq!(inst.dispatch(t(4)), None);

    let mut terminated = inst.clone();
    assert!(inst.resume(Some("go".into()), t(5)));
    assert!(inst.is_dispatchable(t(5)));
    let work = dispatch(&mut inst, 6)?;
    assert_eq!(kinds(&work.new_events), ["OS", "eventRaised", "resumed"]);
    inst.complete_turn(turn(vec![])?, &ctx(6))?;
    assert_eq!(inst.status, RuntimeStatus::Running);

    assert_eq!(
        terminated.terminate(Some("end".into()), false, t(5)),
        TerminateOutcome::Requested
    );
    assert!(
        terminated.is_dispatchable(t(5)),
        "a termination wakes a suspended instance"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Terminate
// ---------------------------------------------------------------------------------------------

#[test]
fn terminate_of_a_never_dispatched_instance_ends_it_at_once() -> TestResult {
    let scheduled = NewInstance {
        scheduled_start: Some(t(1000)),
        ..spec("i1")
    };
    let rows: Vec<(&str, Instance)> = vec![
        ("pending", new_instance("i1")),
        (
            "scheduled start not due",
            Instance::new(scheduled, ExecutionId::new("e1"), t(0)),
        ),
    ];
    for (row, mut inst) in rows {
        inst.deliver(events::event_raised("x".into(), None, t(1)), t(1));
        let got = inst.terminate(Some("nope".into()), true, t(2));
        assert_eq!(got, TerminateOutcome::Terminated(vec![]), "row {row:?}");
        assert_eq!(inst.status, RuntimeStatus::Terminated, "row {row:?}");
        assert_eq!(inst.output.as_deref(), Some("nope"), "row {row:?}");
        assert_eq!(inst.completed_at, Some(t(2)), "row {row:?}");
        assert!(inst.inbox.is_empty(), "row {row:?}");
        assert_eq!(inst.dispatch(t(5000)), None, "row {row:?}");
    }
    Ok(())
}

#[test]
fn scheduled_start_delays_the_first_dispatch() -> TestResult {
    let mut inst = Instance::new(
        NewInstance {
            scheduled_start: Some(t(100)),
            ..spec("i1")
        },
        ExecutionId::new("e1"),
        t(0),
    );
    assert_eq!(inst.start_delayed_until(t(10)), Some(t(100)));
    assert!(!inst.is_dispatchable(t(99)));
    assert_eq!(inst.start_delayed_until(t(100)), None);
    let work = dispatch(&mut inst, 100)?;
    let Some(es) = work.new_events.get(1).and_then(as_started) else {
        panic!("no ES")
    };
    assert_eq!(es.scheduled_start_timestamp, Some(ts(100)));
    Ok(())
}

#[test]
fn terminate_of_a_running_instance_is_acknowledged_by_the_worker() -> TestResult {
    let mut inst = running_idle()?;
    let got = inst.terminate(Some("stop".into()), false, t(2));
    assert_eq!(got, TerminateOutcome::Requested);
    assert_eq!(inst.status, RuntimeStatus::Running);
    let Some(EventType::ExecutionTerminated(et)) =
        inst.inbox.back().and_then(|e| e.event_type.clone())
    else {
        panic!("no executionTerminated queued: {:?}", kinds(&inst.inbox))
    };
    assert_eq!((et.input.as_deref(), et.recurse), (Some("stop"), false));
    assert_eq!(
        inst.terminate(Some("again".into()), false, t(3)),
        TerminateOutcome::Ignored
    );
    assert_eq!(kinds(&inst.inbox), ["terminated"]);

    // In flight: a terminate also works on an instance whose first work item is out.
    let mut first = new_instance("i2");
    dispatch(&mut first, 1)?;
    assert_eq!(
        first.terminate(None, false, t(2)),
        TerminateOutcome::Requested
    );

    let ack = complete_with(1, OrchestrationStatus::Terminated, Some("stop"));
    run_turn(&mut inst, 4, vec![ack])?;
    assert_eq!(inst.status, RuntimeStatus::Terminated);
    assert_eq!(inst.output.as_deref(), Some("stop"));
    assert_eq!(kinds(&inst.history[3..]), ["OS", "terminated", "OC", "EC"]);
    Ok(())
}

#[test]
fn recursive_termination_terminates_the_children_of_the_execution() -> TestResult {
    for recurse in [true, false] {
        let row = format!("recurse={recurse}");
        let mut inst = new_instance("i1");
        run_turn(
            &mut inst,
            1,
            vec![
                sub_orchestration(1, "", "Child", None),
                schedule_task(2, "A", None),
                sub_orchestration(3, "kid", "Child", None),
            ],
        )?;
        assert_eq!(
            inst.terminate(Some("r".into()), recurse, t(2)),
            TerminateOutcome::Requested
        );
        let ack = complete_with(4, OrchestrationStatus::Terminated, Some("r"));
        let (_, effects) = run_turn(&mut inst, 3, vec![ack])?;
        let want = if recurse {
            ["i1:0001", "kid"]
                .into_iter()
                .map(|c| Effect::Terminate {
                    target: c.into(),
                    reason: Some("r".into()),
                    recurse: true,
                })
                .collect()
        } else {
            vec![]
        };
        assert_eq!(effects, want, "row {row}");
    }
    Ok(())
}

#[test]
fn recursive_termination_spares_children_of_earlier_executions() -> TestResult {
    let mut inst = new_instance("i1");
    run_turn(
        &mut inst,
        1,
        vec![
            sub_orchestration(1, "old", "Child", None),
            continue_as_new(2, None, None, vec![]),
        ],
    )?;
    run_turn(
        &mut inst,
        2,
        vec![sub_orchestration(1, "new", "Child", None)],
    )?;
    assert_eq!(
        inst.terminate(None, true, t(3)),
        TerminateOutcome::Requested
    );
    let ack = complete_with(2, OrchestrationStatus::Terminated, None);
    let (_, effects) = run_turn(&mut inst, 4, vec![ack])?;
    assert_eq!(
        effects,
        vec![Effect::Terminate {
            target: "new".into(),
            reason: None,
            recurse: true
        }]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// History cap
// ---------------------------------------------------------------------------------------------

#[test]
fn history_limit_fails_the_instance_without_applying_the_turn() -> TestResult {
    // After the first turn the history is OS, ES, taskScheduled, OC (4 events). The second
    // turn carries OS + taskCompleted and answers with `actions`; its history would be
    // 4 + 2 + confirmations + OC [+ EC].
    let three_tasks = || {
        vec![
            schedule_task(2, "B", None),
            schedule_task(3, "C", None),
            schedule_task(4, "D", None),
        ]
    };
    let rows: Vec<(&str, usize, Vec<OrchestratorAction>, bool)> = vec![
        ("roomy", 100, three_tasks(), false),
        ("one too many", 9, three_tasks(), true),
        (
            "completion fits exactly (8 events)",
            8,
            vec![complete(2, None)],
            false,
        ),
        ("completion one too many", 7, vec![complete(2, None)], true),
    ];
    for (row, max, actions, fails) in rows {
        let (mut inst, task) = running_with_one_activity()?;
        inst.deliver_result(&task.execution, task.result_event(None, None, t(2)), t(2));
        let before = inst.history.clone();
        let limited = TurnContext {
            max_history_size: max,
            ..ctx(3)
        };
        let (_, effects) = run_turn_with(&mut inst, &limited, turn(actions)?)?;
        if !fails {
            assert!(
                !(inst.status == RuntimeStatus::Failed),
                "row {row:?}: failed with {:?} ({} events allowed)",
                inst.failure,
                max
            );
            assert!(inst.history.len() <= max, "row {row:?}");
            continue;
        }
        assert_eq!(inst.status, RuntimeStatus::Failed, "row {row:?}");
        let Some(details) = &inst.failure else {
            panic!("row {row:?}: no failure details")
        };
        assert_eq!(
            details.error_type, "HistorySizeLimitExceeded",
            "row {row:?}"
        );
        assert!(!details.error_message.is_empty(), "row {row:?}");
        assert_eq!(effects, vec![], "row {row:?}: no action applied");
        assert_eq!(
            inst.history[..4],
            before[..],
            "row {row:?}: no new events committed"
        );
        assert_eq!(kinds(&inst.history[4..]), ["EC"], "row {row:?}");
        assert!(
            inst.inbox.is_empty() && inst.in_flight.is_none(),
            "row {row:?}"
        );
        assert_eq!(inst.completed_at, Some(t(3)), "row {row:?}");
    }
    Ok(())
}

#[test]
fn history_limit_failure_of_a_child_notifies_the_parent() -> TestResult {
    let mut child = new_child("c1", 7);
    let limited = TurnContext {
        max_history_size: 2,
        ..ctx(1)
    };
    let (_, effects) = run_turn_with(
        &mut child,
        &limited,
        turn(vec![schedule_task(1, "A", None)])?,
    )?;
    let [Effect::NotifyParent { parent, event }] = effects.as_slice() else {
        panic!("expected one NotifyParent: {effects:?}")
    };
    assert_eq!(parent, &parent_link(7));
    let Some(EventType::SubOrchestrationInstanceFailed(f)) = &event.event_type else {
        panic!("not subOrchFailed: {event:?}")
    };
    assert_eq!(
        f.failure_details.as_ref().map(|d| d.error_type.as_str()),
        Some("HistorySizeLimitExceeded")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

#[test]
fn malformed_actions_are_rejected_by_try_from() {
    use orchestrator_action::OrchestratorActionType as W;
    let completion = |status: OrchestrationStatus| {
        Some(W::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: status as i32,
            ..Default::default()
        }))
    };
    let rows: Vec<(&str, Option<W>)> = vec![
        ("no type", None),
        (
            "createTimer without fireAt",
            Some(W::CreateTimer(CreateTimerAction::default())),
        ),
        (
            "scheduleTask without name",
            Some(W::ScheduleTask(ScheduleTaskAction::default())),
        ),
        (
            "createSubOrchestration without name",
            Some(W::CreateSubOrchestration(
                CreateSubOrchestrationAction::default(),
            )),
        ),
        (
            "sendEvent without target",
            Some(W::SendEvent(SendEventAction::default())),
        ),
        (
            "sendEvent with an empty target",
            Some(W::SendEvent(SendEventAction {
                instance: Some(OrchestrationInstance::default()),
                name: "n".into(),
                data: None,
            })),
        ),
        (
            "terminate without target",
            Some(W::TerminateOrchestration(
                TerminateOrchestrationAction::default(),
            )),
        ),
        (
            "complete as RUNNING",
            completion(OrchestrationStatus::Running),
        ),
        (
            "complete as PENDING",
            completion(OrchestrationStatus::Pending),
        ),
        (
            "complete as SUSPENDED",
            completion(OrchestrationStatus::Suspended),
        ),
        (
            "complete with an unknown status",
            Some(W::CompleteOrchestration(CompleteOrchestrationAction {
                orchestration_status: 42,
                ..Default::default()
            })),
        ),
        (
            "entity message",
            Some(W::SendEntityMessage(SendEntityMessageAction::default())),
        ),
        (
            "rewind",
            Some(W::RewindOrchestration(RewindOrchestrationAction::default())),
        ),
    ];
    for (row, kind) in rows {
        let bad = OrchestratorAction {
            id: 13,
            orchestrator_action_type: kind,
        };
        // A well-formed action first: one bad action rejects the whole response.
        let got = TurnResponse::try_from(response(vec![schedule_task(1, "A", None), bad]));
        assert!(
            matches!(&got, Err(CoreError::MalformedAction { action_id: 13, reason }) if !reason.is_empty()),
            "row {row:?} gave {got:?}"
        );
    }
    let negative = TurnResponse::try_from(OrchestratorResponse {
        num_events_processed: Some(-1),
        ..response(vec![])
    });
    assert!(
        matches!(negative, Err(CoreError::InvalidArgument(_))),
        "{negative:?}"
    );
}

#[test]
fn well_formed_actions_convert_verbatim() -> TestResult {
    let got = turn(vec![
        create_timer(1, 30),
        send_event(2, "t", "n", Some("d")),
        terminate_action(3, "x", Some("r"), true),
        complete_with(4, OrchestrationStatus::Terminated, Some("bye")),
    ])?;
    assert_eq!(
        got.actions,
        vec![
            Action::CreateTimer {
                id: 1,
                fire_at: ts(30)
            },
            Action::SendEvent {
                id: 2,
                target: "t".into(),
                name: "n".into(),
                data: Some("d".into())
            },
            Action::Terminate {
                id: 3,
                target: "x".into(),
                reason: Some("r".into()),
                recurse: true
            },
            Action::Complete {
                id: 4,
                completion: CompletionAction::Terminated {
                    result: Some("bye".into())
                }
            },
        ]
    );
    assert_eq!(got.num_events_processed, None);
    Ok(())
}

/// BUG (dt-core/src/turn.rs `complete_turn`): the cap check always counts an
/// `executionCompleted` (`+ 2`), even for a turn that does not complete. A turn whose history
/// would be exactly `max_history_size` events is refused although the doc comment says only a
/// turn that grows the history *past* the cap is; the failure message then names a size (11)
/// the history would never have reached (10).
#[test]
fn history_limit_admits_a_turn_that_exactly_fills_the_cap() -> TestResult {
    let (mut inst, task) = running_with_one_activity()?;
    inst.deliver_result(&task.execution, task.result_event(None, None, t(2)), t(2));
    // 4 past + OS + taskCompleted + 3 confirmations + OC = 10 events.
    let limited = TurnContext {
        max_history_size: 10,
        ..ctx(3)
    };
    let actions = vec![
        schedule_task(2, "B", None),
        schedule_task(3, "C", None),
        schedule_task(4, "D", None),
    ];
    run_turn_with(&mut inst, &limited, turn(actions)?)?;
    assert_eq!(
        inst.status,
        RuntimeStatus::Running,
        "failure: {:?}",
        inst.failure
    );
    assert_eq!(inst.history.len(), 10);
    Ok(())
}

/// The cap bounds one execution's history; a turn that continues as new starts a fresh one, so
/// it is exempt however many events the ending execution would reach (issue 10, guard (a)).
#[test]
fn history_limit_never_fails_a_turn_that_continues_as_new() -> TestResult {
    let (mut inst, task) = running_with_one_activity()?;
    inst.deliver_result(&task.execution, task.result_event(None, None, t(2)), t(2));
    let old_execution = inst.execution_id.clone();
    let limited = TurnContext {
        max_history_size: 5,
        ..ctx(3)
    };
    let actions = vec![
        schedule_task(2, "B", None),
        schedule_task(3, "C", None),
        continue_as_new(4, Some("\"next\""), None, Vec::new()),
    ];
    run_turn_with(&mut inst, &limited, turn(actions)?)?;
    assert_ne!(
        inst.status,
        RuntimeStatus::Failed,
        "failure: {:?}",
        inst.failure
    );
    assert_ne!(inst.execution_id, old_execution, "a new execution started");
    assert_eq!(inst.input.as_deref(), Some("\"next\""));
    Ok(())
}
