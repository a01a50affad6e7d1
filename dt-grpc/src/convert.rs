//! Decoding and validating client requests into store calls.

use crate::status::to_status;
use chrono::{DateTime, Utc};
use dt_core::{NewInstance, RuntimeStatus, check_timestamp, from_timestamp};
use dt_proto::purge_instances_request::Request as PurgeRequest;
use dt_proto::*;
use dt_store::{CreateInstance, PurgeTarget, check_new_instance};
use tonic::Status;

/// Checks a request's timestamps with dt-core's one rule: INVALID_ARGUMENT naming the first
/// field out of protobuf's range.
fn timestamps(fields: &[(&str, Option<&prost_types::Timestamp>)]) -> Result<(), Status> {
    for (field, ts) in fields {
        check_timestamp(field, *ts).map_err(|err| Status::invalid_argument(err.to_string()))?;
    }
    Ok(())
}

/// A `QueryInstances` query, checked.
pub(crate) fn instance_query(query: InstanceQuery) -> Result<InstanceQuery, Status> {
    timestamps(&[
        ("createdTimeFrom", query.created_time_from.as_ref()),
        ("createdTimeTo", query.created_time_to.as_ref()),
    ])?;
    Ok(query)
}

/// A `ListInstanceIds` request, checked.
pub(crate) fn list_request(
    request: ListInstanceIdsRequest,
) -> Result<ListInstanceIdsRequest, Status> {
    timestamps(&[
        ("completedTimeFrom", request.completed_time_from.as_ref()),
        ("completedTimeTo", request.completed_time_to.as_ref()),
    ])?;
    Ok(request)
}

/// A `SignalEntity` request, checked.
pub(crate) fn signal(request: SignalEntityRequest) -> Result<SignalEntityRequest, Status> {
    timestamps(&[
        ("scheduledTime", request.scheduled_time.as_ref()),
        ("requestTime", request.request_time.as_ref()),
    ])?;
    Ok(request)
}

/// A `QueryEntities` query, checked.
pub(crate) fn entity_query(query: EntityQuery) -> Result<EntityQuery, Status> {
    timestamps(&[
        ("lastModifiedFrom", query.last_modified_from.as_ref()),
        ("lastModifiedTo", query.last_modified_to.as_ref()),
    ])?;
    Ok(query)
}

/// A `StartInstance` request as a store call.
pub(crate) fn create_instance(request: CreateInstanceRequest) -> Result<CreateInstance, Status> {
    timestamps(&[
        (
            "scheduledStartTimestamp",
            request.scheduled_start_timestamp.as_ref(),
        ),
        ("requestTime", request.request_time.as_ref()),
    ])?;
    let replaceable = request
        .orchestration_id_reuse_policy
        .map(|p| p.replaceable_status)
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            RuntimeStatus::from_wire_i32(s).ok_or_else(|| {
                Status::invalid_argument(format!(
                    "unknown orchestration status {s} in the reuse policy"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let spec = NewInstance {
        id: request.instance_id,
        name: request.name,
        version: request.version,
        input: request.input,
        tags: request.tags,
        parent: None,
        parent_trace_context: request.parent_trace_context,
        scheduled_start: scheduled_start(request.scheduled_start_timestamp.as_ref()),
    };
    check_new_instance(&spec).map_err(to_status)?;
    Ok(CreateInstance {
        spec,
        execution_id: request.execution_id,
        replaceable,
    })
}

/// A scheduled start at or before the epoch means "now": the JavaScript SDK always sends one.
fn scheduled_start(ts: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    ts.map(from_timestamp).filter(|t| *t > DateTime::UNIX_EPOCH)
}

/// A `PurgeInstances` request as a store call.
pub(crate) fn purge_target(request: Option<PurgeRequest>) -> Result<PurgeTarget, Status> {
    match request {
        Some(PurgeRequest::InstanceId(id)) => Ok(PurgeTarget::Instance(id)),
        Some(PurgeRequest::PurgeInstanceFilter(filter)) => {
            timestamps(&[
                ("createdTimeFrom", filter.created_time_from.as_ref()),
                ("createdTimeTo", filter.created_time_to.as_ref()),
            ])?;
            Ok(PurgeTarget::Filter(filter))
        }
        Some(PurgeRequest::InstanceBatch(batch)) => {
            if batch.instance_ids.len() > 500 {
                return Err(Status::invalid_argument(format!(
                    "an instance batch holds at most 500 ids, got {}",
                    batch.instance_ids.len()
                )));
            }
            Ok(PurgeTarget::Batch(batch.instance_ids))
        }
        None => Err(Status::invalid_argument(
            "a purge needs an instanceId, a purgeInstanceFilter or an instanceBatch",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn table_of_rejected_starts() {
        let rows = [
            ("empty name", CreateInstanceRequest::default()),
            (
                "entity-style id",
                CreateInstanceRequest {
                    name: "o".into(),
                    instance_id: "@counter@1".into(),
                    ..Default::default()
                },
            ),
            (
                "unknown status in policy",
                CreateInstanceRequest {
                    name: "o".into(),
                    orchestration_id_reuse_policy: Some(OrchestrationIdReusePolicy {
                        replaceable_status: vec![42],
                    }),
                    ..Default::default()
                },
            ),
        ];
        for (row, request) in rows {
            let got = create_instance(request).map(|_| ());
            assert_eq!(
                got.map_err(|s| s.code()),
                Err(Code::InvalidArgument),
                "row {row:?}"
            );
        }
    }

    #[test]
    fn epoch_scheduled_start_means_now() {
        let epoch = prost_types::Timestamp::default();
        assert_eq!(scheduled_start(Some(&epoch)), None);
        let later = prost_types::Timestamp {
            seconds: 4_000_000_000,
            nanos: 0,
        };
        assert!(scheduled_start(Some(&later)).is_some());
    }
}
