//! The runtime status of an orchestration instance and its wire mapping.

use dt_proto::OrchestrationStatus;

/// Where an orchestration instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuntimeStatus {
    /// Created, first work item not yet committed (or a scheduled start not yet due).
    Pending,
    /// At least one work item committed and not finished.
    Running,
    /// A committed work item contained `executionSuspended`.
    Suspended,
    /// Finished with an output.
    Completed,
    /// Finished with failure details.
    Failed,
    /// Ended by a termination request.
    Terminated,
    /// Obsolete on the wire; treated as terminal if a client ever sends it.
    Canceled,
    /// Only ever a transient wire value; an instance that continues as new is `Running`.
    ContinuedAsNew,
}

impl RuntimeStatus {
    /// Completed, failed, terminated (and the obsolete canceled) never change again, short of
    /// a restart, rewind or replacement.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Failed | Self::Terminated | Self::Canceled
        )
    }

    /// The wire enum value.
    pub fn to_wire(self) -> OrchestrationStatus {
        match self {
            Self::Pending => OrchestrationStatus::Pending,
            Self::Running => OrchestrationStatus::Running,
            Self::Suspended => OrchestrationStatus::Suspended,
            Self::Completed => OrchestrationStatus::Completed,
            Self::Failed => OrchestrationStatus::Failed,
            Self::Terminated => OrchestrationStatus::Terminated,
            Self::Canceled => OrchestrationStatus::Canceled,
            Self::ContinuedAsNew => OrchestrationStatus::ContinuedAsNew,
        }
    }

    /// The status a wire value names.
    pub fn from_wire(status: OrchestrationStatus) -> Self {
        match status {
            OrchestrationStatus::Pending => Self::Pending,
            OrchestrationStatus::Running => Self::Running,
            OrchestrationStatus::Suspended => Self::Suspended,
            OrchestrationStatus::Completed => Self::Completed,
            OrchestrationStatus::Failed => Self::Failed,
            OrchestrationStatus::Terminated => Self::Terminated,
            OrchestrationStatus::Canceled => Self::Canceled,
            OrchestrationStatus::ContinuedAsNew => Self::ContinuedAsNew,
        }
    }

    /// The status a raw wire integer names, if it names one.
    pub fn from_wire_i32(value: i32) -> Option<Self> {
        OrchestrationStatus::try_from(value)
            .ok()
            .map(Self::from_wire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_mapping_round_trips_and_terminal_set_is_exact() {
        let all = [
            RuntimeStatus::Pending,
            RuntimeStatus::Running,
            RuntimeStatus::Suspended,
            RuntimeStatus::Completed,
            RuntimeStatus::Failed,
            RuntimeStatus::Terminated,
            RuntimeStatus::Canceled,
            RuntimeStatus::ContinuedAsNew,
        ];
        for s in all {
            assert_eq!(RuntimeStatus::from_wire(s.to_wire()), s);
        }
        let terminal: Vec<_> = all.into_iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [
                RuntimeStatus::Completed,
                RuntimeStatus::Failed,
                RuntimeStatus::Terminated,
                RuntimeStatus::Canceled
            ]
        );
        assert_eq!(
            RuntimeStatus::from_wire_i32(0),
            Some(RuntimeStatus::Running)
        );
        assert_eq!(RuntimeStatus::from_wire_i32(99), None);
    }
}
