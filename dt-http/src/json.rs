//! The API's JSON shapes and the one place they are converted from and to the protocol types
//! the store speaks. Payloads (inputs, outputs, event data, entity state) stay the serialized
//! strings the SDKs wrote; history events are rendered from the protocol descriptor, so every
//! event type and field shows up without a hand-written copy of each.

use crate::error::ApiError;
use chrono::{DateTime, SecondsFormat, Utc};
use dt_core::RuntimeStatus;
use dt_proto::*;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use utoipa::ToSchema;

/// An orchestration's status, as the SDKs name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Status {
    Pending,
    Running,
    Suspended,
    Completed,
    Failed,
    Terminated,
    Canceled,
    ContinuedAsNew,
}

impl Status {
    /// The name in JSON, query strings and metric labels (`RUNNING`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Suspended => "SUSPENDED",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Terminated => "TERMINATED",
            Self::Canceled => "CANCELED",
            Self::ContinuedAsNew => "CONTINUED_AS_NEW",
        }
    }

    /// The status of a protocol `OrchestrationState`.
    pub(crate) fn of(state: &OrchestrationState) -> Option<Self> {
        RuntimeStatus::from_wire_i32(state.orchestration_status).map(Self::from)
    }
}

impl From<RuntimeStatus> for Status {
    fn from(status: RuntimeStatus) -> Self {
        match status {
            RuntimeStatus::Pending => Self::Pending,
            RuntimeStatus::Running => Self::Running,
            RuntimeStatus::Suspended => Self::Suspended,
            RuntimeStatus::Completed => Self::Completed,
            RuntimeStatus::Failed => Self::Failed,
            RuntimeStatus::Terminated => Self::Terminated,
            RuntimeStatus::Canceled => Self::Canceled,
            RuntimeStatus::ContinuedAsNew => Self::ContinuedAsNew,
        }
    }
}

impl From<Status> for RuntimeStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => Self::Pending,
            Status::Running => Self::Running,
            Status::Suspended => Self::Suspended,
            Status::Completed => Self::Completed,
            Status::Failed => Self::Failed,
            Status::Terminated => Self::Terminated,
            Status::Canceled => Self::Canceled,
            Status::ContinuedAsNew => Self::ContinuedAsNew,
        }
    }
}

/// One orchestration instance.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Instance {
    instance_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_id: Option<String>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_start_at: Option<String>,
    /// The serialized input, as the client sent it (left out of list pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    input: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_instance_id: Option<String>,
    tags: BTreeMap<String, String>,
}

/// Why an orchestration or task failed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Failure {
    error_type: String,
    error_message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack_trace: Option<String>,
    is_non_retriable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    inner_failure: Option<Box<Failure>>,
}

fn time(ts: Option<&prost_types::Timestamp>) -> Option<String> {
    ts.map(|t| dt_core::from_timestamp(t).to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn failure(details: TaskFailureDetails) -> Failure {
    Failure {
        error_type: details.error_type,
        error_message: details.error_message,
        stack_trace: details.stack_trace,
        is_non_retriable: details.is_non_retriable,
        inner_failure: details.inner_failure.map(|f| Box::new(failure(*f))),
    }
}

impl From<OrchestrationState> for Instance {
    fn from(s: OrchestrationState) -> Self {
        Self {
            // The store only ever reports known statuses.
            status: Status::of(&s).unwrap_or(Status::Running),
            version: s.version.filter(|v| !v.is_empty()),
            execution_id: s.execution_id,
            created_at: time(s.created_timestamp.as_ref()),
            last_updated_at: time(s.last_updated_timestamp.as_ref()),
            completed_at: time(s.completed_timestamp.as_ref()),
            scheduled_start_at: time(s.scheduled_start_timestamp.as_ref()),
            input: s.input,
            output: s.output,
            custom_status: s.custom_status,
            failure: s.failure_details.map(failure),
            parent_instance_id: s.parent_instance_id,
            tags: s.tags.into_iter().collect(),
            instance_id: s.instance_id,
            name: s.name,
        }
    }
}

/// A page of instances.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InstancePage {
    pub(crate) instances: Vec<Instance>,
    /// Pass it back as `continuationToken` for the next page; null on the last page.
    pub(crate) continuation_token: Option<String>,
}

/// One durable entity.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entity {
    /// `@name@key`.
    entity_id: String,
    name: String,
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_modified_at: Option<String>,
    /// Operations waiting to run.
    backlog: i32,
    /// The orchestration whose critical section holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    locked_by: Option<String>,
    /// The serialized state (left out when not asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

impl From<EntityMetadata> for Entity {
    fn from(e: EntityMetadata) -> Self {
        let (name, key) = e
            .instance_id
            .strip_prefix('@')
            .and_then(|rest| rest.split_once('@'))
            .map(|(n, k)| (n.to_owned(), k.to_owned()))
            .unwrap_or_default();
        Self {
            last_modified_at: time(e.last_modified_time.as_ref()),
            backlog: e.backlog_queue_size,
            locked_by: e.locked_by,
            state: e.serialized_state,
            entity_id: e.instance_id,
            name,
            key,
        }
    }
}

/// A page of entities.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EntityPage {
    pub(crate) entities: Vec<Entity>,
    pub(crate) continuation_token: Option<String>,
}

/// One committed history event.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HistoryEvent {
    /// The action id it confirms (`taskScheduled`, `timerCreated`, ...), or -1.
    event_id: i32,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<String>,
    /// The protocol's name for the event type, e.g. `taskScheduled`, `timerFired`.
    r#type: String,
    /// The event's fields in the protocol's JSON mapping (e.g. `taskScheduledId`, `fireAt`,
    /// `result`).
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

/// An instance's history.
#[derive(Serialize, ToSchema)]
pub(crate) struct History {
    pub(crate) events: Vec<HistoryEvent>,
}

/// The `HistoryEvent` descriptor, read once from the compiled protocol.
fn history_descriptor() -> Option<&'static MessageDescriptor> {
    static DESCRIPTOR: OnceLock<Option<MessageDescriptor>> = OnceLock::new();
    DESCRIPTOR
        .get_or_init(|| {
            DescriptorPool::decode(dt_proto::FILE_DESCRIPTOR_SET)
                .ok()?
                .get_message_by_name("HistoryEvent")
        })
        .as_ref()
}

impl From<dt_proto::HistoryEvent> for HistoryEvent {
    fn from(event: dt_proto::HistoryEvent) -> Self {
        let (r#type, details) = event_details(&event).unwrap_or_else(|| {
            (
                "unknown".to_owned(),
                serde_json::Value::Object(Default::default()),
            )
        });
        Self {
            event_id: event.event_id,
            timestamp: time(event.timestamp.as_ref()),
            r#type,
            details,
        }
    }
}

/// The event type's name and fields: the one entry of the event's oneof in proto JSON.
fn event_details(event: &dt_proto::HistoryEvent) -> Option<(String, serde_json::Value)> {
    let descriptor = history_descriptor()?;
    let dynamic =
        DynamicMessage::decode(descriptor.clone(), event.encode_to_vec().as_slice()).ok()?;
    let options = SerializeOptions::new().stringify_64_bit_integers(false);
    let json = dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .ok()?;
    let serde_json::Value::Object(fields) = json else {
        return None;
    };
    fields
        .into_iter()
        .find(|(name, _)| name != "eventId" && name != "timestamp" && name != "router")
}

/// Body of `POST /api/v1/instances`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StartRequest {
    /// The orchestrator to run.
    #[schema(min_length = 1)]
    pub(crate) name: String,
    /// The id to give the instance; a new one is made when left out. Ids starting with `@`
    /// are entities'.
    #[serde(default)]
    #[schema(pattern = "^([^@].*)?$")]
    pub(crate) instance_id: Option<String>,
    /// Any JSON value; the orchestrator receives it as its input.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(crate) input: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) version: Option<String>,
    /// When to start (RFC 3339); now when left out.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub(crate) scheduled_start_at: Option<String>,
    #[serde(default)]
    pub(crate) tags: HashMap<String, String>,
}

impl StartRequest {
    /// The store's request; the shared rules on new instances are checked by the caller.
    pub(crate) fn into_new_instance(self) -> Result<dt_core::NewInstance, ApiError> {
        let scheduled_start = self
            .scheduled_start_at
            .as_deref()
            .map(|t| parse_time("scheduledStartAt", t))
            .transpose()?
            .map(|t| dt_core::from_timestamp(&t));
        Ok(dt_core::NewInstance {
            id: self.instance_id.unwrap_or_default(),
            name: self.name,
            version: self.version,
            input: self.input.map(|v| v.to_string()),
            tags: self.tags,
            parent: None,
            parent_trace_context: None,
            scheduled_start,
        })
    }
}

/// The answer to a start, restart or other action.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Accepted {
    pub(crate) instance_id: String,
}

/// Body of `POST /api/v1/instances/{id}/raise-event`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RaiseEventRequest {
    /// The event name the orchestration waits for.
    pub(crate) name: String,
    /// Any JSON value, delivered as the event's data.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(crate) data: Option<serde_json::Value>,
}

/// Body of suspend, resume and rewind.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReasonRequest {
    /// Why; recorded in the history.
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// Body of terminate.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TerminateRequest {
    /// Why; becomes the instance's output.
    #[serde(default)]
    pub(crate) reason: Option<String>,
    /// Also terminate its sub-orchestrations.
    #[serde(default)]
    pub(crate) recursive: bool,
}

/// Body of `POST /api/v1/instances/{id}/restart`.
#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RestartRequest {
    /// Start under a new id instead of replacing this instance.
    #[serde(default)]
    pub(crate) new_instance_id: bool,
}

/// Body of `POST /api/v1/entities/{id}/signal`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalRequest {
    /// The operation to run.
    #[schema(min_length = 1)]
    pub(crate) operation: String,
    /// Any JSON value, the operation's input.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub(crate) input: Option<serde_json::Value>,
}

/// The answer to a purge.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Purged {
    pub(crate) deleted_instance_count: usize,
}

/// Parses an RFC 3339 query parameter.
pub(crate) fn parse_time(name: &str, value: &str) -> Result<prost_types::Timestamp, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| dt_core::to_timestamp(t.with_timezone(&Utc)))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "`{name}` must be an RFC 3339 time such as 2026-01-31T12:00:00Z"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_are_the_json_names() {
        for status in dt_store::STATUSES
            .into_iter()
            .chain([RuntimeStatus::Canceled, RuntimeStatus::ContinuedAsNew])
        {
            let status = Status::from(status);
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.name().into())
            );
            assert_eq!(
                RuntimeStatus::from(Status::from(RuntimeStatus::from(status))),
                status.into()
            );
        }
    }
}
