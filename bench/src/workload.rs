//! The orchestrations and activities the driver runs, as pure functions of an instance's number
//! and its history: each turn is computed by replaying past and new events the way the SDK
//! would, numbering actions as the SDK does (so confirmations line up), and each instance has
//! one exact expected final state. Every output is computed by the orchestration from what its
//! history holds (activity results, the event's input, the fired timer's time), never copied
//! from the expectation.

use dt_proto::history_event::EventType;
use dt_proto::orchestrator_action::OrchestratorActionType;
use dt_proto::{
    CompleteOrchestrationAction, CreateTimerAction, HistoryEvent, OrchestrationStatus,
    OrchestratorAction, ScheduleTaskAction,
};
use prost_types::Timestamp;

/// The name of the event the `events` workload waits for.
pub(crate) const EVENT_NAME: &str = "go";

/// What one orchestration does.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// One `hello` activity whose result is the output.
    Hello,
    /// `len` chained `inc` activities, each fed the previous result.
    Sequence { len: u32 },
    /// `width` `inc` activities at once, then the sum of their results.
    Fanout { width: u32 },
    /// One timer `delay_secs` ahead, then complete with the fire time the `timerFired` event
    /// carries. A parked instance is expected to stay RUNNING with its timer pending (the
    /// `timers-pending` measurement); otherwise the timer fires (at once, or for a long delay
    /// by time skipping: `skipped-timers`).
    Timer { delay_secs: i64, parks: bool },
    /// Wait for the `go` event the client raises, and return its input.
    Event,
}

/// One orchestrator turn: the actions to send and whether this turn ends the instance's part
/// of the run (it completes, or for a pending timer, parks it).
pub(crate) struct Turn {
    pub(crate) actions: Vec<OrchestratorAction>,
    pub(crate) finished: bool,
}

impl Turn {
    /// The fire time of the timer this turn asks for, if it asks for one.
    pub(crate) fn timer(&self) -> Option<Timestamp> {
        self.actions
            .iter()
            .find_map(|a| match &a.orchestrator_action_type {
                Some(OrchestratorActionType::CreateTimer(t)) => t.fire_at,
                _ => None,
            })
    }
}

/// The state an instance must be in at the end of the run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) status: OrchestrationStatus,
    pub(crate) output: Option<String>,
}

impl Shape {
    /// Whether the instance parks on a timer that does not fire during the run.
    fn parks(self) -> bool {
        matches!(self, Shape::Timer { parks: true, .. })
    }

    /// The orchestration name sent in StartInstance.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Hello => "hello",
            Shape::Sequence { .. } => "sequence",
            Shape::Fanout { .. } => "fanout",
            Shape::Timer { .. } => "timer",
            Shape::Event => "events",
        }
    }

    /// The input of instance `i` (a JSON number).
    pub(crate) fn input(self, i: u64) -> String {
        i.to_string()
    }

    /// The event the client raises on instance `i` right after starting it, if any.
    pub(crate) fn event_input(self, i: u64) -> Option<String> {
        matches!(self, Shape::Event).then(|| format!("\"event {i}\""))
    }

    /// The exact final state of instance `i`; for a timer that fires, `timer` is the fire time
    /// its orchestration asked for.
    pub(crate) fn expected(self, i: u64, timer: Option<Timestamp>) -> Result<Expected, String> {
        let output = match self {
            Shape::Hello => hello(i),
            Shape::Sequence { len } => (i + u64::from(len)).to_string(),
            Shape::Fanout { width } => {
                let k = u64::from(width);
                // Σ_{j=1..k} (i + j + 1)
                (k * i + k * (k + 1) / 2 + k).to_string()
            }
            Shape::Timer { .. } if self.parks() => {
                return Ok(Expected {
                    status: OrchestrationStatus::Running,
                    output: None,
                });
            }
            Shape::Timer { .. } => {
                timer_output(i, timer.ok_or("its orchestration never asked for a timer")?)
            }
            Shape::Event => format!("\"event {i}\""),
        };
        Ok(Expected {
            status: OrchestrationStatus::Completed,
            output: Some(output),
        })
    }

    /// The next turn of instance `i`, replayed from its `past` and `new` events.
    pub(crate) fn turn(
        self,
        i: u64,
        past: &[HistoryEvent],
        new: &[HistoryEvent],
    ) -> Result<Turn, String> {
        let events = || past.iter().chain(new).filter_map(|e| e.event_type.as_ref());
        if let Some(failed) = events().find_map(|e| match e {
            EventType::TaskFailed(f) => Some(f),
            _ => None,
        }) {
            return Err(format!("an activity failed: {:?}", failed.failure_details));
        }
        let scheduled = past
            .iter()
            .filter(|e| matches!(e.event_type, Some(EventType::TaskScheduled(_))))
            .count();
        let results: Vec<(i32, Option<&String>)> = events()
            .filter_map(|e| match e {
                EventType::TaskCompleted(t) => Some((t.task_scheduled_id, t.result.as_ref())),
                _ => None,
            })
            .collect();
        match self {
            Shape::Hello => chain(i, 1, "hello", scheduled, &results),
            Shape::Sequence { len } => chain(i, len, "inc", scheduled, &results),
            Shape::Fanout { width } => fanout(i, width, scheduled, &results),
            Shape::Timer { delay_secs, .. } => {
                let fired = events().find_map(|e| match e {
                    EventType::TimerFired(f) if f.timer_id == 1 => Some(f),
                    _ => None,
                });
                let created = past
                    .iter()
                    .any(|e| matches!(e.event_type, Some(EventType::TimerCreated(_))));
                if let Some(fired) = fired {
                    let fire_at = fired.fire_at.ok_or("timerFired has no fireAt")?;
                    // The orchestration's time on waking (what an SDK's orchestration reads as
                    // the current time) must not be before the time it waited for.
                    let woke = now(new)?;
                    if earlier(woke, fire_at) {
                        return Err(format!(
                            "the timer woke the orchestration at {woke:?}, before its fireAt \
                             {fire_at:?}"
                        ));
                    }
                    Ok(done(complete(2, Some(timer_output(i, fire_at)))))
                } else if created {
                    Ok(waiting())
                } else {
                    let mut fire_at = now(new)?;
                    fire_at.seconds += delay_secs;
                    Ok(Turn {
                        actions: vec![timer(1, fire_at)],
                        finished: self.parks(),
                    })
                }
            }
            Shape::Event => {
                let input = events().find_map(|e| match e {
                    EventType::EventRaised(r) if r.name == EVENT_NAME => Some(r.input.clone()),
                    _ => None,
                });
                Ok(match input {
                    Some(input) => done(complete(1, input)),
                    None => waiting(),
                })
            }
        }
    }
}

/// The result of an activity, as the bench's activities compute it.
pub(crate) fn activity(name: &str, input: Option<&str>) -> Result<String, String> {
    let x: u64 = input
        .unwrap_or_default()
        .trim()
        .parse()
        .map_err(|_| format!("activity {name}: input {input:?} is not a number"))?;
    match name {
        "hello" => Ok(hello(x)),
        "inc" => Ok((x + 1).to_string()),
        other => Err(format!("unknown activity {other}")),
    }
}

/// The timer orchestration's output: the fire time of the timer that fired, as a JSON string.
fn timer_output(i: u64, fire_at: Timestamp) -> String {
    format!(
        "\"timer {i} fired at {}.{:09}\"",
        fire_at.seconds, fire_at.nanos
    )
}

fn earlier(a: Timestamp, b: Timestamp) -> bool {
    (a.seconds, a.nanos) < (b.seconds, b.nanos)
}

fn hello(i: u64) -> String {
    format!("\"Hello, {i}!\"")
}

/// `len` activities one after another; activity k (id k) gets the result of activity k − 1.
fn chain(
    i: u64,
    len: u32,
    activity: &str,
    scheduled: usize,
    results: &[(i32, Option<&String>)],
) -> Result<Turn, String> {
    for (k, (id, _)) in results.iter().enumerate() {
        if usize::try_from(*id).ok() != Some(k + 1) {
            return Err(format!("result {k} answers task {id}, expected {}", k + 1));
        }
    }
    let last = results.last().map(|(_, r)| r.cloned());
    let done_count = results.len();
    let len = len as usize;
    if done_count > len || scheduled > len {
        return Err(format!("{done_count} results for {len} activities"));
    }
    if done_count == len {
        return Ok(done(complete(id(len + 1)?, last.flatten())));
    }
    if scheduled > done_count {
        return Ok(waiting());
    }
    let input = match last {
        None => i.to_string(),
        Some(result) => result.ok_or("an activity returned no result")?,
    };
    Ok(Turn {
        actions: vec![schedule(id(done_count + 1)?, activity, input)],
        finished: false,
    })
}

/// `width` activities at once (ids 1..=width), then their sum (id width + 1).
fn fanout(
    i: u64,
    width: u32,
    scheduled: usize,
    results: &[(i32, Option<&String>)],
) -> Result<Turn, String> {
    if scheduled == 0 {
        let actions = (1..=width)
            .map(|j| {
                Ok(schedule(
                    id(j as usize)?,
                    "inc",
                    (i + u64::from(j)).to_string(),
                ))
            })
            .collect::<Result<_, String>>()?;
        return Ok(Turn {
            actions,
            finished: false,
        });
    }
    let mut seen = vec![false; width as usize];
    let mut sum = 0u64;
    for (task, result) in results {
        let slot = usize::try_from(*task - 1)
            .ok()
            .and_then(|k| seen.get_mut(k))
            .ok_or_else(|| format!("a result for unknown task {task}"))?;
        if std::mem::replace(slot, true) {
            return Err(format!("two results for task {task}"));
        }
        let value: u64 = result
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| format!("task {task} returned {result:?}"))?;
        sum += value;
    }
    if results.len() == width as usize {
        Ok(done(complete(
            id(width as usize + 1)?,
            Some(sum.to_string()),
        )))
    } else {
        Ok(waiting())
    }
}

/// The orchestration time of this turn: the timestamp of the `orchestratorStarted` that opens
/// the new events.
fn now(new: &[HistoryEvent]) -> Result<Timestamp, String> {
    new.iter()
        .find(|e| matches!(e.event_type, Some(EventType::OrchestratorStarted(_))))
        .and_then(|e| e.timestamp)
        .ok_or_else(|| "the new events have no orchestratorStarted timestamp".to_owned())
}

fn id(n: usize) -> Result<i32, String> {
    i32::try_from(n).map_err(|_| format!("action id {n} does not fit an i32"))
}

fn done(action: OrchestratorAction) -> Turn {
    Turn {
        actions: vec![action],
        finished: true,
    }
}

fn waiting() -> Turn {
    Turn {
        actions: Vec::new(),
        finished: false,
    }
}

fn action(id: i32, t: OrchestratorActionType) -> OrchestratorAction {
    OrchestratorAction {
        id,
        orchestrator_action_type: Some(t),
    }
}

fn complete(id: i32, result: Option<String>) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::CompleteOrchestration(CompleteOrchestrationAction {
            orchestration_status: OrchestrationStatus::Completed as i32,
            result,
            ..Default::default()
        }),
    )
}

fn schedule(id: i32, name: &str, input: String) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::ScheduleTask(ScheduleTaskAction {
            name: name.to_owned(),
            input: Some(input),
            ..Default::default()
        }),
    )
}

fn timer(id: i32, fire_at: Timestamp) -> OrchestratorAction {
    action(
        id,
        OrchestratorActionType::CreateTimer(CreateTimerAction {
            fire_at: Some(fire_at),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dt_proto::{
        OrchestratorStartedEvent, TaskCompletedEvent, TaskScheduledEvent, TimerCreatedEvent,
        TimerFiredEvent,
    };

    const T: Timestamp = Timestamp {
        seconds: 1_700_000_000,
        nanos: 250,
    };

    fn at(t: Timestamp, event_type: EventType) -> HistoryEvent {
        HistoryEvent {
            event_id: -1,
            timestamp: Some(t),
            event_type: Some(event_type),
        }
    }

    fn started(t: Timestamp) -> HistoryEvent {
        at(
            t,
            EventType::OrchestratorStarted(OrchestratorStartedEvent::default()),
        )
    }

    fn output(turn: &Turn) -> Option<String> {
        turn.actions
            .iter()
            .find_map(|a| match &a.orchestrator_action_type {
                Some(OrchestratorActionType::CompleteOrchestration(c)) => c.result.clone(),
                _ => None,
            })
    }

    #[test]
    fn hello_completes_with_the_activity_result() {
        let first = Shape::Hello
            .turn(3, &[], &[started(T)])
            .expect("first turn");
        let Some(OrchestratorActionType::ScheduleTask(task)) =
            &first.actions[0].orchestrator_action_type
        else {
            panic!("hello must schedule its activity first");
        };
        let result = activity(&task.name, task.input.as_deref()).expect("activity");
        let past = [
            started(T),
            at(T, EventType::TaskScheduled(TaskScheduledEvent::default())),
        ];
        let completed = at(
            T,
            EventType::TaskCompleted(TaskCompletedEvent {
                task_scheduled_id: 1,
                result: Some(result),
            }),
        );
        let last = Shape::Hello
            .turn(3, &past, &[started(T), completed])
            .expect("last turn");
        assert!(last.finished);
        let wanted = Shape::Hello.expected(3, None).expect("expected");
        assert_eq!(output(&last), wanted.output);
    }

    /// The timer's output comes from the `timerFired` event the turn receives: it matches the
    /// expectation built from the requested time only if the server fired that timer.
    #[test]
    fn the_timer_output_is_the_fired_timers_time() {
        let timer = Shape::Timer {
            delay_secs: 0,
            parks: false,
        };
        let first = timer.turn(7, &[], &[started(T)]).expect("first turn");
        assert_eq!(first.timer(), Some(T));
        let past = [
            started(T),
            at(T, EventType::TimerCreated(TimerCreatedEvent::default())),
        ];
        let fired = |fire_at: Timestamp, when: Timestamp| {
            let event = at(
                when,
                EventType::TimerFired(TimerFiredEvent {
                    fire_at: Some(fire_at),
                    timer_id: 1,
                }),
            );
            timer.turn(7, &past, &[started(when), event])
        };
        let later = Timestamp {
            seconds: T.seconds + 1,
            nanos: 0,
        };
        let wanted = timer.expected(7, Some(T)).expect("expected").output;

        let right = fired(T, later).expect("last turn");
        assert!(right.finished);
        assert_eq!(output(&right), wanted);

        let other_timer = fired(later, later).expect("last turn");
        assert_ne!(output(&other_timer), wanted);

        let early = fired(later, T);
        assert!(early.is_err_and(|e| e.contains("before its fireAt")));

        assert!(timer.expected(7, None).is_err());
    }
}
