//! Reading many instances at once: queries, id listings, histories, and purges.

use super::state::State;
use crate::api::{Page, PurgeTarget};
use crate::error::{StoreError, clip};
use chrono::{DateTime, Utc};
use dt_core::{Instance, RuntimeStatus, from_timestamp};
use dt_proto::*;

fn status_in(statuses: &[i32], status: RuntimeStatus) -> bool {
    statuses.is_empty() || statuses.contains(&(status.to_wire() as i32))
}

fn in_range(
    t: DateTime<Utc>,
    from: Option<&prost_types::Timestamp>,
    to: Option<&prost_types::Timestamp>,
) -> bool {
    from.is_none_or(|f| t >= from_timestamp(f)) && to.is_none_or(|e| t < from_timestamp(e))
}

impl State {
    /// Pages through instances in creation order; the token is the creation sequence number
    /// of the last instance returned.
    pub(crate) fn query_instances(
        &self,
        query: InstanceQuery,
    ) -> Result<Page<OrchestrationState>, StoreError> {
        let after: u64 = match query.continuation_token.as_deref() {
            None | Some("") => 0,
            Some(t) => t.parse().map_err(|_| {
                StoreError::InvalidArgument(format!("invalid continuation token '{}'", clip(t)))
            })?,
        };
        let limit = if query.max_instance_count <= 0 {
            usize::MAX
        } else {
            query.max_instance_count as usize
        };
        let prefix = query.instance_id_prefix.as_deref().unwrap_or("");
        let matches = |i: &Instance| {
            i.id.as_str().starts_with(prefix)
                && status_in(&query.runtime_status, i.status)
                && in_range(
                    i.created_at,
                    query.created_time_from.as_ref(),
                    query.created_time_to.as_ref(),
                )
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for (seq, id) in self.by_creation.range(after.saturating_add(1)..) {
            let Some(instance) = self.instance(id) else {
                continue;
            };
            if !matches(instance) {
                continue;
            }
            if items.len() == limit {
                more = true;
                break;
            }
            items.push(instance.to_state(query.fetch_inputs_and_outputs));
            last = Some(*seq);
        }
        Ok(Page {
            items,
            continuation_token: if more {
                last.map(|s| s.to_string())
            } else {
                None
            },
        })
    }

    /// Terminal instance ids ordered by (completion time, id); the cursor is
    /// `"<completed RFC 3339>|<id>"` of the last id returned.
    pub(crate) fn list_instance_ids(
        &self,
        request: ListInstanceIdsRequest,
    ) -> Result<Page<String>, StoreError> {
        let page_size = if request.page_size <= 0 {
            100
        } else {
            request.page_size as usize
        };
        let cursor = match request.last_instance_key.as_deref() {
            None | Some("") => None,
            Some(key) => {
                let (time, id) = key.split_once('|').ok_or_else(|| {
                    StoreError::InvalidArgument(format!("invalid lastInstanceKey '{}'", clip(key)))
                })?;
                let time = DateTime::parse_from_rfc3339(time)
                    .map_err(|_| {
                        StoreError::InvalidArgument(format!(
                            "invalid time in lastInstanceKey '{}'",
                            clip(key)
                        ))
                    })?
                    .with_timezone(&Utc);
                Some((time, id.to_owned()))
            }
        };
        let mut done: Vec<(DateTime<Utc>, &str)> = self
            .instances
            .values()
            .map(|e| &e.instance)
            .filter_map(|i| {
                let completed = i.completed_at.filter(|_| i.is_terminal())?;
                (status_in(&request.runtime_status, i.status)
                    && in_range(
                        completed,
                        request.completed_time_from.as_ref(),
                        request.completed_time_to.as_ref(),
                    ))
                .then_some((completed, i.id.as_str()))
            })
            .collect();
        done.sort_unstable();
        let start = match &cursor {
            None => 0,
            Some((t, id)) => done.partition_point(|(ct, cid)| (*ct, *cid) <= (*t, id.as_str())),
        };
        let rest = &done[start..];
        let page = &rest[..rest.len().min(page_size)];
        let token = (rest.len() > page.len())
            .then(|| page.last())
            .flatten()
            .map(|(t, id)| {
                format!(
                    "{}|{}",
                    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                    id
                )
            });
        Ok(Page {
            items: page.iter().map(|(_, id)| (*id).to_owned()).collect(),
            continuation_token: token,
        })
    }

    pub(crate) fn instance_history(
        &self,
        id: &str,
        execution_id: Option<&str>,
    ) -> Result<Vec<HistoryEvent>, StoreError> {
        let instance = self.instance(id).ok_or_else(|| {
            StoreError::NotFound(format!("no orchestration instance with id '{}'", clip(id)))
        })?;
        if let Some(e) = execution_id.filter(|e| !e.is_empty())
            && e != instance.execution_id.as_str()
        {
            return Err(StoreError::NotFound(format!(
                "instance '{}' has no execution '{}' (only the current execution's history is kept)",
                clip(id),
                clip(e)
            )));
        }
        Ok(instance.full_history().into_owned())
    }

    /// Purges terminal instances (and, if asked, their children, depth first); returns the count.
    pub(crate) fn purge(
        &mut self,
        target: PurgeTarget,
        recursive: bool,
        now: DateTime<Utc>,
    ) -> usize {
        let roots: Vec<String> = match target {
            PurgeTarget::Instance(id) if id.starts_with('@') => return self.purge_entity(&id),
            PurgeTarget::Instance(id) => vec![id],
            PurgeTarget::Batch(ids) => ids,
            PurgeTarget::Filter(filter) => self
                .by_creation
                .values()
                .filter_map(|id| self.instance(id))
                .filter(|i| {
                    i.is_terminal()
                        && status_in(&filter.runtime_status, i.status)
                        && in_range(
                            i.created_at,
                            filter.created_time_from.as_ref(),
                            filter.created_time_to.as_ref(),
                        )
                })
                .map(|i| i.id.as_str().to_owned())
                .collect(),
        };
        let mut count = 0;
        let mut stack: Vec<(String, Option<String>)> =
            roots.into_iter().map(|id| (id, None)).collect();
        while let Some((id, parent)) = stack.pop() {
            let Some(instance) = self.instance(&id) else {
                continue;
            };
            // A child id may since have been reused by an unrelated instance; leave that one.
            let still_child = parent.as_deref().is_none_or(|p| {
                instance
                    .parent
                    .as_ref()
                    .is_some_and(|l| l.instance.as_str() == p)
            });
            if !instance.is_terminal() || !still_child {
                continue;
            }
            if recursive {
                stack.extend(
                    instance
                        .children()
                        .into_iter()
                        .map(|c| (c.into_string(), Some(id.clone()))),
                );
            }
            if self.remove_instance(&id, now).is_some() {
                count += 1;
            }
        }
        count
    }
}
