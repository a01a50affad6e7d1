//! Property tests of one orchestration instance driven by random inputs: work items answered
//! by a model worker with random actions (tasks, timers, children, events, and at the end
//! optionally a completion or a continue-as-new; ids numbered 1, 2, 3… per execution like the
//! SDK), random `numEventsProcessed` values and abandons, interleaved with random deliveries
//! (external events, activity results, timer firings, child results — including stale ones
//! of earlier executions) and suspend / resume / terminate requests.
//!
//! Properties: (a) the eventId replay contract and the committed layout of each turn;
//! (b) terminal instances never change; (c) determinism; (d) no event is lost or duplicated;
//! (e) the framing of every work item.
//!
//! (d) precisely: every event an instance accepted (`deliver`/`deliver_result` returned
//! `Queued`, `suspend`/`resume` returned `true`, `terminate` returned `Requested`) occurs
//! exactly once in `history ++ inbox ++ in_flight` after every later input, except that
//! - once the instance is terminal nothing is required any more (pending events are cleared);
//! - when a turn continues as new, the events it or an earlier turn committed leave with the
//!   old history, results (task/timer/child) not yet committed are dropped, and so are
//!   suspend/resume requests that would not pair up in the fresh execution; every other
//!   accepted event (eventRaised, terminate) must reach the new execution.

mod support;

use dt_core::proto::*;
use dt_core::{
    ActivityTask, CoreError, Delivery, Dispatch, Effect, EventKind, ExecutionId, Instance,
    NewInstance, RuntimeStatus, TerminateOutcome, TimerTask, TurnContext, events,
};
use proptest::prelude::*;
use proptest::sample::Index;
use support::*;

/// One action of a model turn; its id is assigned when the turn is answered.
#[derive(Clone, Debug)]
enum ActionSpec {
    Task,
    Timer { offset: i64 },
    Child { explicit_id: bool },
    SendOther,
    SendSelf,
}

/// How a model turn ends.
#[derive(Clone, Debug)]
enum EndSpec {
    Completed,
    Failed,
    Terminated,
    ContinueAsNew { carry: usize, new_version: bool },
}

/// One input to the instance.
#[derive(Clone, Debug)]
enum Step {
    Raise,
    Result {
        pick: Index,
        fail: bool,
    },
    Suspend,
    Resume,
    Terminate {
        recurse: bool,
    },
    Dispatch,
    Answer {
        actions: Vec<ActionSpec>,
        end: Option<EndSpec>,
        processed: Option<usize>,
        abandon: bool,
        /// With nothing in flight, dispatch first (else check the `NoWorkInFlight` path).
        dispatch_first: bool,
    },
}

/// Work the instance asked for whose result can be delivered later.
#[derive(Clone, Debug)]
enum Pending {
    Task(ActivityTask),
    Timer(TimerTask),
    Child(NewInstance),
}

fn action_spec() -> impl Strategy<Value = ActionSpec> {
    prop_oneof![
        3 => Just(ActionSpec::Task),
        2 => (-5i64..50).prop_map(|offset| ActionSpec::Timer { offset }),
        1 => any::<bool>().prop_map(|explicit_id| ActionSpec::Child { explicit_id }),
        1 => Just(ActionSpec::SendOther),
        1 => Just(ActionSpec::SendSelf),
    ]
}

fn end_spec() -> impl Strategy<Value = Option<EndSpec>> {
    prop_oneof![
        24 => Just(None),
        1 => Just(Some(EndSpec::Completed)),
        1 => Just(Some(EndSpec::Failed)),
        1 => Just(Some(EndSpec::Terminated)),
        3 => (0usize..3, any::<bool>())
            .prop_map(|(carry, new_version)| Some(EndSpec::ContinueAsNew { carry, new_version })),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Raise),
        8 => (any::<Index>(), prop::bool::weighted(0.3))
            .prop_map(|(pick, fail)| Step::Result { pick, fail }),
        2 => Just(Step::Suspend),
        2 => Just(Step::Resume),
        1 => any::<bool>().prop_map(|recurse| Step::Terminate { recurse }),
        4 => Just(Step::Dispatch),
        10 => (
            prop::collection::vec(action_spec(), 0..4),
            end_spec(),
            prop::option::weighted(0.2, 0usize..6),
            prop::bool::weighted(0.15),
            prop::bool::weighted(0.8),
        )
            .prop_map(|(actions, end, processed, abandon, dispatch_first)| Step::Answer {
                actions,
                end,
                processed,
                abandon,
                dispatch_first,
            }),
    ]
}

fn max_history() -> impl Strategy<Value = usize> {
    prop_oneof![3 => Just(10_000usize), 1 => 6usize..40]
}

/// Fails the property with a message.
fn fail<T>(msg: String) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(msg))
}

/// How many times `e` occurs in `events`.
fn count<'a>(events: impl IntoIterator<Item = &'a HistoryEvent>, e: &HistoryEvent) -> usize {
    events.into_iter().filter(|x| *x == e).count()
}

/// The confirmation kind an action leaves, if any.
fn confirmation_kind(a: &ActionSpec) -> &'static str {
    match a {
        ActionSpec::Task => "taskScheduled",
        ActionSpec::Timer { .. } => "timerCreated",
        ActionSpec::Child { .. } => "subOrchCreated",
        ActionSpec::SendOther | ActionSpec::SendSelf => "eventSent",
    }
}

/// Drives one instance through the steps, checking the per-step properties, and records
/// what it observed for the determinism check.
struct Harness {
    inst: Instance,
    max_history: usize,
    step_no: i64,
    /// The SDK's next action id in the current execution.
    next_action_id: i32,
    /// The work item in flight, as sent.
    work: Option<OrchestratorRequest>,
    /// Work whose result has not been delivered yet (of any execution).
    pending: Vec<Pending>,
    /// Events delivered while alive (and queued) that must not be lost or duplicated.
    tracked: Vec<HistoryEvent>,
    /// The instance as it was when it became terminal.
    frozen: Option<Instance>,
    /// Everything observable, for the determinism check.
    log: Vec<String>,
    effects: Vec<Vec<Effect>>,
    dispatches: Vec<OrchestratorRequest>,
}

impl Harness {
    fn new(max_history: usize) -> Self {
        Self {
            inst: new_instance("i1"),
            max_history,
            step_no: 0,
            next_action_id: 1,
            work: None,
            pending: Vec::new(),
            tracked: Vec::new(),
            frozen: None,
            log: Vec::new(),
            effects: Vec::new(),
            dispatches: Vec::new(),
        }
    }

    fn now_secs(&self) -> i64 {
        10 * self.step_no
    }

    /// Tracks the event an accepted request just appended to the inbox.
    fn track_last_queued(&mut self) -> Result<(), TestCaseError> {
        let Some(e) = self.inst.inbox.back() else {
            return fail("an accepted request queued nothing".into());
        };
        self.tracked.push(e.clone());
        Ok(())
    }

    fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        self.step_no += 1;
        let now = t(self.now_secs());
        let was_terminal = self.inst.is_terminal();
        match step {
            Step::Raise => {
                let e = events::event_raised(format!("ext{}", self.step_no), None, now);
                let got = self.inst.deliver(e, now);
                self.log.push(format!("raise {got:?}"));
                prop_assert_eq!(got == Delivery::Dropped, was_terminal);
                if got == Delivery::Queued {
                    self.track_last_queued()?;
                }
            }
            Step::Result { pick, fail: failed } => {
                if self.pending.is_empty() {
                    return Ok(());
                }
                let p = self.pending.remove(pick.index(self.pending.len()));
                let details = failure_details(&format!("f{}", self.step_no));
                let (execution, event) = match &p {
                    Pending::Task(a) => {
                        let failure = failed.then_some(details);
                        (
                            a.execution.clone(),
                            a.result_event(Some("r".into()), failure, now),
                        )
                    }
                    Pending::Timer(tt) => (tt.execution.clone(), tt.fired_event(now)),
                    Pending::Child(c) => {
                        let Some(link) = &c.parent else {
                            return fail(format!("child without parent link: {c:?}"));
                        };
                        let event = if *failed {
                            events::sub_orchestration_failed(link.task_id, details, now)
                        } else {
                            events::sub_orchestration_completed(link.task_id, None, now)
                        };
                        (link.execution.clone(), event)
                    }
                };
                let stale = execution != self.inst.execution_id;
                let got = self.inst.deliver_result(&execution, event, now);
                self.log.push(format!("result {got:?}"));
                prop_assert_eq!(
                    got == Delivery::Dropped,
                    was_terminal || stale,
                    "result of {:?} for execution {} while on {}",
                    p,
                    execution,
                    self.inst.execution_id
                );
                if got == Delivery::Queued {
                    self.track_last_queued()?;
                }
            }
            Step::Suspend => {
                let got = self.inst.suspend(Some("s".into()), now);
                self.log.push(format!("suspend {got}"));
                prop_assert!(!(was_terminal && got));
                if got {
                    self.track_last_queued()?;
                }
            }
            Step::Resume => {
                let got = self.inst.resume(None, now);
                self.log.push(format!("resume {got}"));
                prop_assert!(!(was_terminal && got));
                if got {
                    self.track_last_queued()?;
                }
            }
            Step::Terminate { recurse } => {
                let got = self.inst.terminate(Some("bye".into()), *recurse, now);
                self.log.push(format!("terminate {got:?}"));
                match got {
                    TerminateOutcome::Requested => {
                        prop_assert!(!was_terminal);
                        self.track_last_queued()?;
                    }
                    TerminateOutcome::Terminated(effects) => {
                        prop_assert!(!was_terminal);
                        prop_assert_eq!(self.inst.status, RuntimeStatus::Terminated);
                        prop_assert_eq!(self.inst.output.as_deref(), Some("bye"));
                        self.effects.push(effects);
                    }
                    TerminateOutcome::Ignored => {}
                }
            }
            Step::Dispatch => self.dispatch(now, was_terminal)?,
            Step::Answer {
                actions,
                end,
                processed,
                abandon,
                dispatch_first,
            } => {
                if self.work.is_none() && *dispatch_first {
                    self.dispatch(now, was_terminal)?;
                }
                self.answer(actions, end.as_ref(), *processed, *abandon)?
            }
        }
        self.check_invariants()
    }

    /// (e) A work item is framed by a fresh OS and carries its execution's ES where the
    /// worker needs it.
    fn dispatch(
        &mut self,
        now: chrono::DateTime<chrono::Utc>,
        was_terminal: bool,
    ) -> Result<(), TestCaseError> {
        let in_flight = self.inst.in_flight.is_some();
        let past = self.inst.history.clone();
        let inbox: Vec<_> = self.inst.inbox.iter().cloned().collect();
        let Some(work) = self.inst.dispatch(now).map(Dispatch::into_request) else {
            self.log.push("dispatch none".into());
            let asleep = self.inst.status == RuntimeStatus::Suspended
                && !inbox.iter().any(|e| {
                    matches!(EventKind::of(e), EventKind::Resumed | EventKind::Terminated)
                });
            prop_assert!(
                was_terminal || in_flight || inbox.is_empty() || asleep,
                "a dispatchable instance was not dispatched: {:?}",
                self.inst
            );
            return Ok(());
        };
        prop_assert!(
            !was_terminal && !in_flight,
            "dispatched a terminal or busy instance"
        );
        prop_assert!(!work.new_events.is_empty(), "empty newEvents");
        prop_assert_eq!(
            kind(&work.new_events[0]),
            "OS",
            "newEvents {:?}",
            kinds(&work.new_events)
        );
        prop_assert_eq!(
            work.new_events.iter().filter(|e| kind(e) == "OS").count(),
            1,
            "one framing OS: {:?}",
            kinds(&work.new_events)
        );
        prop_assert_eq!(
            &work.new_events[1..],
            &inbox[..],
            "newEvents = OS + the inbox, in order"
        );
        prop_assert_eq!(&work.past_events[..], past.events());
        let es_in_past = work.past_events.iter().any(|e| kind(e) == "ES");
        let es_next = work.new_events.get(1).is_some_and(|e| kind(e) == "ES");
        prop_assert!(
            es_in_past || es_next,
            "no ES in pastEvents nor right after the OS: past {:?}, new {:?}",
            kinds(&work.past_events),
            kinds(&work.new_events)
        );
        let all_es: Vec<_> = work
            .past_events
            .iter()
            .chain(&work.new_events)
            .filter_map(as_started)
            .collect();
        prop_assert_eq!(all_es.len(), 1, "exactly one ES per execution");
        let es_execution = all_es[0]
            .orchestration_instance
            .as_ref()
            .and_then(|i| i.execution_id.as_deref());
        prop_assert_eq!(es_execution, Some(self.inst.execution_id.as_str()));
        prop_assert_eq!(
            work.execution_id.as_deref(),
            Some(self.inst.execution_id.as_str())
        );
        let os_time = work.new_events[0]
            .timestamp
            .map(|ts| dt_core::from_timestamp(&ts));
        prop_assert!(os_time >= Some(now), "OS before the dispatch time");
        for e in &work.new_events {
            if let Some(history_event::EventType::TimerFired(f)) = &e.event_type {
                let due = f.fire_at.map(|ts| dt_core::from_timestamp(&ts));
                prop_assert!(
                    os_time >= due,
                    "OS {:?} before a delivered timer {:?}",
                    os_time,
                    due
                );
            }
        }
        self.log.push(format!("dispatch {}", work.new_events.len()));
        self.dispatches.push(work.clone());
        self.work = Some(work);
        Ok(())
    }

    fn answer(
        &mut self,
        actions: &[ActionSpec],
        end: Option<&EndSpec>,
        processed: Option<usize>,
        abandon: bool,
    ) -> Result<(), TestCaseError> {
        let now_secs = self.now_secs();
        let cx = TurnContext {
            now: t(now_secs),
            next_execution_id: ExecutionId::new(format!("exec{}", self.step_no)),
            max_history_size: self.max_history,
        };
        let Some(work) = self.work.take() else {
            let before = self.inst.clone();
            let got = self
                .inst
                .complete_turn(dt_core::TurnResponse::default(), &cx);
            self.log.push(format!("answer without work {got:?}"));
            prop_assert!(
                matches!(got, Err(CoreError::NoWorkInFlight(_))),
                "{:?}",
                got
            );
            prop_assert_eq!(&self.inst, &before);
            return Ok(());
        };
        if abandon {
            let inbox_before: Vec<_> = self.inst.inbox.iter().cloned().collect();
            self.inst.abandon();
            self.log.push("abandon".into());
            let mut want = work.new_events[1..].to_vec();
            want.extend(inbox_before);
            prop_assert_eq!(self.inst.inbox.iter().cloned().collect::<Vec<_>>(), want);
            prop_assert!(self.inst.in_flight.is_none());
            return Ok(());
        }

        // The model worker's answer, numbered like the SDK.
        let mut id = self.next_action_id;
        let mut wire = Vec::new();
        let mut confirmations = Vec::new();
        for a in actions {
            let action = match a {
                ActionSpec::Task => schedule_task(id, &format!("A{id}"), None),
                ActionSpec::Timer { offset } => create_timer(id, now_secs + offset),
                ActionSpec::Child { explicit_id } => {
                    let child_id = if *explicit_id {
                        format!("kid{}-{id}", self.step_no)
                    } else {
                        String::new()
                    };
                    sub_orchestration(id, &child_id, "Child", None)
                }
                ActionSpec::SendOther => send_event(id, "other", "n", None),
                ActionSpec::SendSelf => {
                    send_event(id, "i1", &format!("self{}", self.step_no), None)
                }
            };
            wire.push(action);
            confirmations.push((confirmation_kind(a), id));
            id += 1;
        }
        match end {
            None => {}
            Some(EndSpec::Completed) => wire.push(complete(id, Some("out"))),
            Some(EndSpec::Failed) => wire.push(support::fail(id, Some(failure_details("boom")))),
            Some(EndSpec::Terminated) => wire.push(complete_with(
                id,
                OrchestrationStatus::Terminated,
                Some("t"),
            )),
            Some(EndSpec::ContinueAsNew { carry, new_version }) => {
                let carried = (0..*carry)
                    .map(|k| {
                        events::event_raised(
                            format!("carry{}-{k}", self.step_no),
                            None,
                            t(now_secs),
                        )
                    })
                    .collect();
                let version = new_version.then(|| format!("v{}", self.step_no));
                wire.push(continue_as_new(
                    id,
                    Some("\"next\""),
                    version.as_deref(),
                    carried,
                ));
            }
        }
        let response = OrchestratorResponse {
            num_events_processed: processed.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            ..response(wire)
        };
        let turn = dt_core::TurnResponse::try_from(response)
            .map_err(|e| TestCaseError::fail(format!("model worker sent a malformed turn: {e}")))?;

        let old_history = self.inst.history.clone();
        let old_execution = self.inst.execution_id.clone();
        // The framing orchestratorStarted is always committed, so at least one event counts.
        let n = processed.map_or(work.new_events.len(), |n| {
            n.clamp(1, work.new_events.len().max(1))
        });
        let effects = self
            .inst
            .complete_turn(turn, &cx)
            .map_err(|e| TestCaseError::fail(format!("complete_turn failed: {e}")))?;
        self.log.push(format!("answer {}", effects.len()));

        let continued = self.inst.execution_id != old_execution;
        let limit_failed = self.inst.status == RuntimeStatus::Failed
            && self
                .inst
                .failure
                .as_ref()
                .is_some_and(|f| f.error_type == "HistorySizeLimitExceeded");
        let ends = matches!(
            end,
            Some(EndSpec::Completed | EndSpec::Failed | EndSpec::Terminated)
        );
        let exact = old_history.len() + n + confirmations.len() + 1 + usize::from(ends);

        if limit_failed {
            // Nothing of the turn is applied: the old history plus the EC.
            prop_assert!(
                exact >= self.max_history,
                "failed a turn of {} events under a cap of {}",
                exact,
                self.max_history
            );
            prop_assert!(
                effects.is_empty(),
                "effects of a refused turn: {:?}",
                effects
            );
            prop_assert_eq!(&self.inst.history[..old_history.len()], &old_history[..]);
            prop_assert_eq!(kinds(&self.inst.history[old_history.len()..]), ["EC"]);
        } else if continued {
            let was_continue_as_new = matches!(end, Some(EndSpec::ContinueAsNew { .. }));
            prop_assert!(was_continue_as_new);
            prop_assert_eq!(self.inst.status, RuntimeStatus::Running);
            prop_assert!(self.inst.history.is_empty());
            prop_assert_eq!(self.inst.inbox.front().map(kind), Some("ES"));
            self.next_action_id = 1;
            // (d) What the old execution committed, and its unconsumed results, go with it.
            let committed = &work.new_events[..n];
            // Suspend/resume requests that would not pair up in the fresh, unsuspended execution
            // are dropped too (a lone resume would make the Python worker fail it).
            let inbox = &self.inst.inbox;
            self.tracked.retain(|e| {
                let unpaired =
                    matches!(EventKind::of(e), EventKind::Suspended | EventKind::Resumed)
                        && count(inbox, e) == 0;
                count(&old_history, e) + count(committed, e) == 0
                    && EventKind::of(e) != EventKind::Result
                    && !unpaired
            });
        } else {
            // (a) The committed layout: past, processed new events, one confirmation per
            // action with eventId = action id, OC, EC when it ended.
            prop_assert!(self.inst.history.len() <= self.max_history);
            let h = &self.inst.history;
            prop_assert_eq!(h.len(), exact, "history {:?}", kinds(h));
            prop_assert_eq!(&h[..old_history.len()], &old_history[..]);
            let mut at = old_history.len();
            prop_assert_eq!(&h[at..at + n], &work.new_events[..n]);
            at += n;
            for (want_kind, want_id) in &confirmations {
                prop_assert_eq!((kind(&h[at]), h[at].event_id), (*want_kind, *want_id));
                prop_assert_eq!(h[at].timestamp, Some(ts(now_secs)));
                at += 1;
            }
            prop_assert_eq!(kind(&h[at]), "OC");
            if ends {
                prop_assert_eq!(kind(&h[at + 1]), "EC");
                prop_assert!(self.inst.is_terminal());
            }
            self.next_action_id = if end.is_some() { id + 1 } else { id };
        }

        // (a) Effects name the action ids and the execution that asked for the work.
        if !limit_failed {
            let mut want_ids = confirmations
                .iter()
                .filter(|(k, _)| *k != "eventSent")
                .map(|(_, id)| *id);
            for e in &effects {
                let (task_id, execution) = match e {
                    Effect::ScheduleActivity(a) => (a.task_id, &a.execution),
                    Effect::CreateTimer(tt) => (tt.timer_id, &tt.execution),
                    Effect::StartChild(c) => match &c.parent {
                        Some(p) => (p.task_id, &p.execution),
                        None => return fail(format!("StartChild without parent: {c:?}")),
                    },
                    _ => continue,
                };
                prop_assert_eq!(Some(task_id), want_ids.next(), "effects {:?}", effects);
                prop_assert_eq!(execution, &old_execution);
            }
            prop_assert_eq!(want_ids.next(), None, "missing effects in {:?}", effects);
        }
        for e in &effects {
            match e {
                Effect::ScheduleActivity(a) => self.pending.push(Pending::Task(a.clone())),
                Effect::CreateTimer(tt) => self.pending.push(Pending::Timer(tt.clone())),
                Effect::StartChild(c) => self.pending.push(Pending::Child(c.clone())),
                _ => {}
            }
        }
        self.effects.push(effects);
        Ok(())
    }

    fn check_invariants(&mut self) -> Result<(), TestCaseError> {
        let inst = &self.inst;
        // (a) Within one execution the action ids in history are strictly increasing.
        let ids: Vec<i32> = inst
            .history
            .iter()
            .map(|e| e.event_id)
            .filter(|id| *id >= 0)
            .collect();
        prop_assert!(ids.windows(2).all(|w| w[0] < w[1]), "eventIds {:?}", ids);
        prop_assert!(
            inst.history.is_empty() || inst.status != RuntimeStatus::Pending,
            "Pending after a commit"
        );
        prop_assert_eq!(inst.in_flight.is_some(), self.work.is_some());

        // (b) Once terminal, nothing changes any more.
        if let Some(frozen) = &self.frozen {
            prop_assert_eq!(inst, frozen, "a terminal instance changed");
        } else if inst.is_terminal() {
            prop_assert!(inst.completed_at.is_some());
            prop_assert!(inst.inbox.is_empty() && inst.in_flight.is_none());
            self.frozen = Some(inst.clone());
            self.work = None;
            self.tracked.clear();
        }

        // (d) Every event accepted while alive is exactly once in history, inbox or flight.
        for e in &self.tracked {
            let n = count(&inst.history, e)
                + count(&inst.inbox, e)
                + inst.in_flight.as_ref().map_or(0, |f| count(f, e));
            prop_assert_eq!(n, 1, "event {:?} found {} times in {:?}", e, n, inst);
        }
        Ok(())
    }
}

fn run(steps: &[Step], max_history: usize) -> Result<Harness, TestCaseError> {
    let mut h = Harness::new(max_history);
    for (i, s) in steps.iter().enumerate() {
        h.apply(s)
            .map_err(|e| TestCaseError::fail(format!("step {i} {s:?}: {e}")))?;
    }
    Ok(h)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a), (b), (d), (e) along the way; (c) by running the same inputs twice.
    #[test]
    fn random_turns_keep_the_invariants(
        steps in prop::collection::vec(step(), 1..60),
        max_history in max_history(),
    ) {
        let first = run(&steps, max_history)?;
        let second = run(&steps, max_history)?;
        prop_assert_eq!(&first.inst, &second.inst);
        prop_assert_eq!(&first.effects, &second.effects);
        prop_assert_eq!(&first.dispatches, &second.dispatches);
        prop_assert_eq!(&first.log, &second.log);
    }

    /// (b) with every kind of input thrown at an instance that just finished.
    #[test]
    fn terminal_instances_stay_put(
        end in 0usize..4,
        steps in prop::collection::vec(step(), 0..30),
    ) {
        let mut h = Harness::new(10_000);
        let ending = match end {
            0 => EndSpec::Completed,
            1 => EndSpec::Failed,
            2 => EndSpec::Terminated,
            _ => EndSpec::Completed,
        };
        let actions = if end == 3 { vec![ActionSpec::Task, ActionSpec::Timer { offset: 5 }] } else { vec![] };
        h.apply(&Step::Answer {
            actions,
            end: Some(ending),
            processed: None,
            abandon: false,
            dispatch_first: true,
        })?;
        prop_assert!(h.inst.is_terminal());
        let frozen = h.inst.clone();
        for s in &steps {
            h.apply(s)?;
        }
        prop_assert_eq!(&h.inst, &frozen);
    }
}
