//! Conversions between the engine's types and the records of `store.proto`. Encoding cannot
//! fail; decoding a record that is not what it claims is `Internal` (a damaged store).

use crate::error::StoreError;
use chrono::{DateTime, Utc};
use dt_core::{
    ActivityTask, Entity, ExecutionId, History, Holder, Instance, InstanceId, LockRequest, Locks,
    Operation, ParentLink, RuntimeStatus, TimerTask, from_timestamp, to_timestamp,
};
use dt_proto::HistoryEvent;
use dt_proto::store::v1::*;
use prost::Message;

type Decoded<T> = Result<T, StoreError>;

fn damaged(what: &str, err: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("a stored {what} record cannot be read: {err}"))
}

fn decode<M: Message + Default>(what: &str, bytes: &[u8]) -> Decoded<M> {
    M::decode(bytes).map_err(|e| damaged(what, e))
}

fn time(t: Option<prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    t.as_ref().map(from_timestamp)
}

fn required_time(what: &str, t: Option<prost_types::Timestamp>) -> Decoded<DateTime<Utc>> {
    time(t).ok_or_else(|| damaged(what, "a required time is missing"))
}

/// One history event's record.
pub(crate) fn encode_event(event: &HistoryEvent) -> Vec<u8> {
    event.encode_to_vec()
}

pub(crate) fn decode_event(bytes: &[u8]) -> Decoded<HistoryEvent> {
    decode("history event", bytes)
}

/// An optional embedded message.
fn optional<M: Message + Default>(what: &str, bytes: Option<Vec<u8>>) -> Decoded<Option<Box<M>>> {
    bytes.map(|b| decode(what, &b).map(Box::new)).transpose()
}

/// The history's events from position `from` on, each as its record, and how many events
/// the history holds. A live history encodes only those events; an archived one (a finished
/// instance, written once) is split out of its wire encoding without decoding it.
pub(crate) fn history_rows(history: &History, from: usize) -> Decoded<(usize, Vec<Vec<u8>>)> {
    if !history.is_archived() {
        let events = history.events();
        let new = events.get(from..).unwrap_or_default();
        return Ok((events.len(), new.iter().map(encode_event).collect()));
    }
    let encoded = history.encoded();
    let mut rest = encoded.as_bytes();
    let mut rows = Vec::new();
    let mut total = 0;
    let broken = |e: prost::DecodeError| damaged("archived history", e);
    while !rest.is_empty() {
        prost::encoding::decode_key(&mut rest).map_err(broken)?;
        let len = usize::try_from(prost::encoding::decode_varint(&mut rest).map_err(broken)?)
            .unwrap_or(usize::MAX);
        let Some((event, after)) = rest.split_at_checked(len) else {
            return Err(damaged("archived history", "an event runs past the end"));
        };
        if total >= from {
            rows.push(event.to_vec());
        }
        total += 1;
        rest = after;
    }
    Ok((total, rows))
}

fn decode_events(bytes: &[Vec<u8>]) -> Decoded<Vec<HistoryEvent>> {
    bytes.iter().map(|b| decode_event(b)).collect()
}

/// An instance's record: everything but its history.
pub(crate) fn encode_instance(instance: &Instance, creation_seq: u64) -> Vec<u8> {
    let events = |list: &mut dyn Iterator<Item = &HistoryEvent>| -> Vec<Vec<u8>> {
        list.map(encode_event).collect()
    };
    StoredInstance {
        id: instance.id.as_str().to_owned(),
        name: instance.name.clone(),
        version: instance.version.clone(),
        status: instance.status.to_wire() as i32,
        input: instance.input.clone(),
        output: instance.output.clone(),
        custom_status: instance.custom_status.clone(),
        failure: instance.failure.as_deref().map(Message::encode_to_vec),
        execution_id: instance.execution_id.as_str().to_owned(),
        created_at: Some(to_timestamp(instance.created_at)),
        last_updated_at: Some(to_timestamp(instance.last_updated_at)),
        completed_at: instance.completed_at.map(to_timestamp),
        scheduled_start: instance.scheduled_start.map(to_timestamp),
        parent: instance.parent.as_deref().map(|p| StoredParent {
            instance_id: p.instance.as_str().to_owned(),
            execution_id: p.execution.as_str().to_owned(),
            task_id: p.task_id,
            name: p.name.clone(),
            version: p.version.clone(),
        }),
        tags: instance.tags.clone(),
        parent_trace_context: instance
            .parent_trace_context
            .as_deref()
            .map(Message::encode_to_vec),
        trace_context: instance
            .trace_context
            .as_deref()
            .map(Message::encode_to_vec),
        inbox: events(&mut instance.inbox.iter()),
        in_flight: instance
            .in_flight
            .as_ref()
            .map(|e| events(&mut e.iter()))
            .unwrap_or_default(),
        suspend_requested: instance.suspend_requested,
        replay_requested: instance.replay_requested,
        creation_seq,
    }
    .encode_to_vec()
}

/// An instance read back, with its creation sequence number. What was in flight is back in
/// its inbox (the worker that had it is gone) unless another server's worker `held` it.
pub(crate) fn decode_instance(
    record: &[u8],
    history: &[Vec<u8>],
    held: bool,
) -> Decoded<(Instance, u64)> {
    const WHAT: &str = "instance";
    let s: StoredInstance = decode(WHAT, record)?;
    let status = RuntimeStatus::from_wire_i32(s.status)
        .ok_or_else(|| damaged(WHAT, format!("unknown status {}", s.status)))?;
    let in_flight = decode_events(&s.in_flight)?;
    let mut instance = Instance {
        id: InstanceId::new(s.id),
        name: s.name,
        version: s.version,
        status,
        input: s.input,
        output: s.output,
        custom_status: s.custom_status,
        failure: optional(WHAT, s.failure)?,
        execution_id: ExecutionId::new(s.execution_id),
        created_at: required_time(WHAT, s.created_at)?,
        last_updated_at: required_time(WHAT, s.last_updated_at)?,
        completed_at: time(s.completed_at),
        scheduled_start: time(s.scheduled_start),
        parent: s.parent.map(|p| {
            Box::new(ParentLink {
                instance: InstanceId::new(p.instance_id),
                execution: ExecutionId::new(p.execution_id),
                task_id: p.task_id,
                name: p.name,
                version: p.version,
            })
        }),
        tags: s.tags,
        parent_trace_context: optional(WHAT, s.parent_trace_context)?,
        trace_context: optional(WHAT, s.trace_context)?,
        history: History::new(),
        inbox: decode_events(&s.inbox)?.into(),
        in_flight: (!in_flight.is_empty()).then_some(in_flight),
        suspend_requested: s.suspend_requested,
        replay_requested: s.replay_requested,
    };
    instance.history = History::from_events(decode_events(history)?);
    if !held {
        instance.abandon();
    }
    Ok((instance, s.creation_seq))
}

fn encode_operation(op: &Operation) -> StoredOperation {
    StoredOperation {
        event: encode_event(&op.event),
        request_id: op.request_id.clone(),
        sender: op.sender.as_ref().map(|s| s.as_str().to_owned()),
        reply_instance_id: op.reply_to.as_ref().map(|(i, _)| i.as_str().to_owned()),
        reply_execution_id: op.reply_to.as_ref().map(|(_, e)| e.as_str().to_owned()),
    }
}

fn decode_operation(op: StoredOperation) -> Decoded<Operation> {
    Ok(Operation {
        event: decode_event(&op.event)?,
        request_id: op.request_id,
        sender: op.sender.map(InstanceId::new),
        reply_to: op
            .reply_instance_id
            .zip(op.reply_execution_id)
            .map(|(i, e)| (InstanceId::new(i), ExecutionId::new(e))),
    })
}

pub(crate) fn encode_entity(entity: &Entity) -> Vec<u8> {
    StoredEntity {
        id: entity.id.clone(),
        state: entity.state.clone(),
        last_modified: Some(to_timestamp(entity.last_modified)),
        queue: entity.queue.iter().map(encode_operation).collect(),
        in_flight: entity
            .in_flight
            .iter()
            .flatten()
            .map(encode_operation)
            .collect(),
    }
    .encode_to_vec()
}

/// An entity read back; a batch that was in flight is back at the front of its queue unless
/// another server's worker `held` it.
pub(crate) fn decode_entity(record: &[u8], held: bool) -> Decoded<Entity> {
    const WHAT: &str = "entity";
    let s: StoredEntity = decode(WHAT, record)?;
    let in_flight = s
        .in_flight
        .into_iter()
        .map(decode_operation)
        .collect::<Decoded<Vec<_>>>()?;
    let mut entity = Entity::new(s.id, required_time(WHAT, s.last_modified)?);
    entity.state = s.state;
    entity.queue = s
        .queue
        .into_iter()
        .map(decode_operation)
        .collect::<Decoded<_>>()?;
    entity.in_flight = (!in_flight.is_empty()).then_some(in_flight);
    if !held {
        entity.abandon();
    }
    Ok(entity)
}

pub(crate) fn encode_activity(task: &ActivityTask) -> Vec<u8> {
    StoredActivity {
        instance_id: task.instance.as_str().to_owned(),
        execution_id: task.execution.as_str().to_owned(),
        task_id: task.task_id,
        name: task.name.clone(),
        version: task.version.clone(),
        input: task.input.clone(),
        parent_trace_context: task
            .parent_trace_context
            .as_ref()
            .map(Message::encode_to_vec),
        tags: task.tags.clone(),
    }
    .encode_to_vec()
}

pub(crate) fn decode_activity(record: &[u8]) -> Decoded<ActivityTask> {
    const WHAT: &str = "activity";
    let s: StoredActivity = decode(WHAT, record)?;
    Ok(ActivityTask {
        instance: InstanceId::new(s.instance_id),
        execution: ExecutionId::new(s.execution_id),
        task_id: s.task_id,
        name: s.name,
        version: s.version,
        input: s.input,
        parent_trace_context: s
            .parent_trace_context
            .map(|b| decode(WHAT, &b))
            .transpose()?,
        tags: s.tags,
    })
}

pub(crate) fn encode_timer(timer: &TimerTask) -> Vec<u8> {
    StoredTimer {
        instance_id: timer.instance.as_str().to_owned(),
        execution_id: timer.execution.as_str().to_owned(),
        timer_id: timer.timer_id,
        fire_at: Some(timer.fire_at),
    }
    .encode_to_vec()
}

pub(crate) fn decode_timer(record: &[u8]) -> Decoded<TimerTask> {
    const WHAT: &str = "timer";
    let s: StoredTimer = decode(WHAT, record)?;
    Ok(TimerTask {
        instance: InstanceId::new(s.instance_id),
        execution: ExecutionId::new(s.execution_id),
        timer_id: s.timer_id,
        fire_at: s
            .fire_at
            .ok_or_else(|| damaged(WHAT, "the fire time is missing"))?,
    })
}

pub(crate) fn encode_delayed(target: &str, due: DateTime<Utc>, op: &Operation) -> Vec<u8> {
    StoredDelayedOperation {
        target: target.to_owned(),
        due: Some(to_timestamp(due)),
        operation: Some(encode_operation(op)),
    }
    .encode_to_vec()
}

pub(crate) fn decode_delayed(record: &[u8]) -> Decoded<(String, DateTime<Utc>, Operation)> {
    const WHAT: &str = "delayed signal";
    let s: StoredDelayedOperation = decode(WHAT, record)?;
    let op = s
        .operation
        .ok_or_else(|| damaged(WHAT, "the operation is missing"))?;
    Ok((s.target, required_time(WHAT, s.due)?, decode_operation(op)?))
}

pub(crate) fn encode_locks(locks: &Locks) -> Vec<u8> {
    StoredLocks {
        holders: locks
            .held()
            .map(|(entity, h)| StoredHolder {
                entity: entity.clone(),
                critical_section: h.critical_section.clone(),
                instance_id: h.instance.as_str().to_owned(),
            })
            .collect(),
        waiting: locks
            .waiting()
            .map(|r| StoredLockRequest {
                critical_section: r.critical_section.clone(),
                instance_id: r.instance.as_str().to_owned(),
                execution_id: r.execution.as_str().to_owned(),
                entities: r.entities.clone(),
            })
            .collect(),
    }
    .encode_to_vec()
}

pub(crate) fn decode_locks(record: &[u8]) -> Decoded<Locks> {
    let s: StoredLocks = decode("lock table", record)?;
    Ok(Locks::restore(
        s.holders.into_iter().map(|h| {
            (
                h.entity,
                Holder {
                    critical_section: h.critical_section,
                    instance: InstanceId::new(h.instance_id),
                },
            )
        }),
        s.waiting.into_iter().map(|r| LockRequest {
            critical_section: r.critical_section,
            instance: InstanceId::new(r.instance_id),
            execution: ExecutionId::new(r.execution_id),
            entities: r.entities,
        }),
    ))
}
