//! Work-item filters: which orchestrations, activities and entities a worker asked for.

use dt_proto::WorkItemFilters;
use std::collections::{HashMap, HashSet};

/// The filters of one worker stream. `None` for a category means "everything".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkFilters {
    /// Orchestration filter by name and version.
    pub orchestrations: Option<NameFilter>,
    /// Activity filter by name and version.
    pub activities: Option<NameFilter>,
    /// Entity filter by entity name (the part between the first two `@` of `@name@key`).
    pub entities: Option<NameFilter>,
}

/// Names a worker accepts, each with the versions it accepts (an empty set accepts any).
/// An empty filter accepts nothing: the worker sent the category with no names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NameFilter(HashMap<String, HashSet<String>>);

impl NameFilter {
    fn add(&mut self, name: String, versions: Vec<String>) {
        let entry = self.0.entry(name).or_default();
        entry.extend(versions);
    }

    /// Whether an item with this name and version (absent = `""`) is accepted.
    pub fn accepts(&self, name: &str, version: &str) -> bool {
        self.0
            .get(name)
            .is_some_and(|versions| versions.is_empty() || versions.contains(version))
    }

    /// Whether the name is accepted, whatever the versions say.
    pub fn accepts_name(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

impl WorkFilters {
    /// Everything, as for a worker that sent no filters.
    pub fn all() -> Self {
        Self::default()
    }

    /// Whether an orchestration is for this worker.
    pub fn accepts_orchestration(&self, name: &str, version: &str) -> bool {
        self.orchestrations
            .as_ref()
            .is_none_or(|f| f.accepts(name, version))
    }

    /// Whether an activity is for this worker. An activity scheduled without a version
    /// matches on its name alone: the Python SDK never versions activities but puts its worker
    /// version on activity filters, and strict matching would starve them forever.
    pub fn accepts_activity(&self, name: &str, version: Option<&str>) -> bool {
        self.activities.as_ref().is_none_or(|f| match version {
            Some(v) => f.accepts(name, v),
            None => f.accepts_name(name),
        })
    }

    /// Whether an entity id (`@name@key`) is for this worker.
    pub fn accepts_entity(&self, entity_id: &str) -> bool {
        self.entities.as_ref().is_none_or(|f| {
            entity_name(entity_id).is_some_and(|name| f.accepts(&name.to_lowercase(), ""))
        })
    }
}

/// The name part of an entity id `@name@key`.
pub fn entity_name(entity_id: &str) -> Option<&str> {
    let rest = entity_id.strip_prefix('@')?;
    let (name, _key) = rest.split_once('@')?;
    Some(name)
}

impl From<Option<WorkItemFilters>> for WorkFilters {
    fn from(filters: Option<WorkItemFilters>) -> Self {
        let Some(filters) = filters else {
            return Self::all();
        };
        let mut orchestrations = NameFilter::default();
        for f in filters.orchestrations {
            orchestrations.add(f.name, f.versions);
        }
        let mut activities = NameFilter::default();
        for f in filters.activities {
            activities.add(f.name, f.versions);
        }
        let mut entities = NameFilter::default();
        for f in filters.entities {
            entities.add(f.name.to_lowercase(), Vec::new());
        }
        Self {
            orchestrations: Some(orchestrations),
            activities: Some(activities),
            entities: Some(entities),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dt_proto::{ActivityFilter, EntityFilter, OrchestrationFilter};

    fn filters() -> WorkFilters {
        WorkFilters::from(Some(WorkItemFilters {
            orchestrations: vec![
                OrchestrationFilter {
                    name: "o".into(),
                    versions: vec!["1".into()],
                },
                OrchestrationFilter {
                    name: "o".into(),
                    versions: vec!["2".into()],
                },
                OrchestrationFilter {
                    name: "any".into(),
                    versions: vec![],
                },
            ],
            activities: vec![ActivityFilter {
                name: "a".into(),
                versions: vec!["1".into()],
            }],
            entities: vec![EntityFilter {
                name: "Counter".into(),
            }],
        }))
    }

    #[test]
    fn table_of_filter_decisions() {
        let f = filters();
        let rows = [
            (
                "duplicate names union their versions (1)",
                f.accepts_orchestration("o", "1"),
                true,
            ),
            (
                "duplicate names union their versions (2)",
                f.accepts_orchestration("o", "2"),
                true,
            ),
            (
                "version not listed",
                f.accepts_orchestration("o", "3"),
                false,
            ),
            (
                "unversioned is \"\"",
                f.accepts_orchestration("o", ""),
                false,
            ),
            (
                "empty versions accept any",
                f.accepts_orchestration("any", "9"),
                true,
            ),
            ("unknown name", f.accepts_orchestration("x", ""), false),
            (
                "versioned activity must match",
                f.accepts_activity("a", Some("2")),
                false,
            ),
            (
                "unversioned activity matches by name",
                f.accepts_activity("a", None),
                true,
            ),
            (
                "entity name is lower-cased",
                f.accepts_entity("@counter@k1"),
                true,
            ),
            ("other entity", f.accepts_entity("@other@k1"), false),
            ("malformed entity id", f.accepts_entity("counter"), false),
            (
                "no filters accept all",
                WorkFilters::all().accepts_orchestration("x", "y"),
                true,
            ),
        ];
        for (row, got, want) in rows {
            assert_eq!(got, want, "row {row:?}");
        }
    }

    #[test]
    fn present_but_empty_category_accepts_nothing() {
        let f = WorkFilters::from(Some(WorkItemFilters::default()));
        assert!(!f.accepts_orchestration("o", ""));
        assert!(!f.accepts_activity("a", None));
        assert!(!f.accepts_entity("@e@k"));
    }
}
