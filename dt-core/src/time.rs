//! Conversions between `chrono` times and protobuf timestamps.

use crate::error::CoreError;
use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// 0001-01-01T00:00:00Z, the earliest instant a protobuf Timestamp may name.
const MIN_SECONDS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the last whole second a protobuf Timestamp may name.
const MAX_SECONDS: i64 = 253_402_300_799;

/// Checks a timestamp a client or worker sent against protobuf Timestamp's rules: seconds
/// from year 1 to year 9999, nanos in 0..1e9. The one validation every incoming timestamp goes
/// through, so a malformed one is refused (`InvalidArgument`, naming `field`) instead of being
/// read as some other time.
pub fn check_timestamp(field: &str, ts: Option<&Timestamp>) -> Result<(), CoreError> {
    let Some(ts) = ts else {
        return Ok(());
    };
    if (MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) && (0..1_000_000_000).contains(&ts.nanos) {
        return Ok(());
    }
    Err(CoreError::InvalidArgument(format!(
        "{field} is not a valid timestamp (seconds {}, nanos {}): timestamps lie between \
         0001-01-01 and 9999-12-31 with nanos from 0 to 999,999,999",
        ts.seconds, ts.nanos
    )))
}

/// Every timestamp a history event sent by a worker carries (carry-over events, a rewind's new
/// history): its own and the one inside it, each checked with [`check_timestamp`], so none is
/// stored to be sent back out of range.
pub(crate) fn check_event_timestamps(
    field: &str,
    event: &dt_proto::HistoryEvent,
) -> Result<(), CoreError> {
    use dt_proto::history_event::EventType as E;
    // The field's name is put together only for an error: most events are fine.
    let within = |err| match err {
        CoreError::InvalidArgument(m) => CoreError::InvalidArgument(format!("{field} {m}")),
        other => other,
    };
    check_timestamp("timestamp", event.timestamp.as_ref()).map_err(within)?;
    let (name, inner) = match &event.event_type {
        Some(E::ExecutionStarted(e)) => (
            "executionStarted.scheduledStartTimestamp",
            e.scheduled_start_timestamp.as_ref(),
        ),
        Some(E::TimerCreated(e)) => ("timerCreated.fireAt", e.fire_at.as_ref()),
        Some(E::TimerFired(e)) => ("timerFired.fireAt", e.fire_at.as_ref()),
        Some(E::EntityOperationSignaled(e)) => (
            "entityOperationSignaled.scheduledTime",
            e.scheduled_time.as_ref(),
        ),
        Some(E::EntityOperationCalled(e)) => (
            "entityOperationCalled.scheduledTime",
            e.scheduled_time.as_ref(),
        ),
        _ => return Ok(()),
    };
    check_timestamp(name, inner).map_err(within)
}

/// A protobuf timestamp for `t`.
pub fn to_timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The time a protobuf timestamp names. Incoming timestamps are checked at the edge
/// ([`check_timestamp`]); should an unchecked one get here, it clamps to the epoch rather than
/// failing a request path.
pub fn from_timestamp(ts: &Timestamp) -> DateTime<Utc> {
    let nanos = ts.nanos.clamp(0, 999_999_999) as u32;
    DateTime::from_timestamp(ts.seconds, nanos).unwrap_or(DateTime::UNIX_EPOCH)
}

/// The time a client, an orchestration or an entity asked for, if it is still ahead of `now`;
/// `None` means "now". The one rule for every delayed signal and scheduled start.
pub fn due_later(requested: Option<&Timestamp>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    requested.map(from_timestamp).filter(|t| *t > now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_to_the_nanosecond() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap_or_default();
        assert_eq!(from_timestamp(&to_timestamp(t)), t);
    }

    #[test]
    fn the_protobuf_range_is_accepted_and_nothing_beyond_it() {
        let at = |seconds, nanos| check_timestamp("t", Some(&Timestamp { seconds, nanos }));
        assert!(check_timestamp("t", None).is_ok());
        assert!(at(MIN_SECONDS, 0).is_ok());
        assert!(at(MAX_SECONDS, 999_999_999).is_ok());
        assert!(at(0, 0).is_ok());
        for (seconds, nanos) in [
            (MIN_SECONDS - 1, 0),
            (MAX_SECONDS + 1, 0),
            (i64::MAX, 0),
            (i64::MIN, 0),
            (0, -1),
            (0, 1_000_000_000),
        ] {
            let err = at(seconds, nanos);
            assert!(
                matches!(&err, Err(CoreError::InvalidArgument(m)) if m.starts_with("t is not")),
                "({seconds}, {nanos}): {err:?}"
            );
        }
        // The bounds are the calendar's: year 1 and the last second of year 9999.
        assert_eq!(
            DateTime::from_timestamp(MIN_SECONDS, 0).map(|t| t.to_rfc3339()),
            Some("0001-01-01T00:00:00+00:00".to_owned())
        );
        assert_eq!(
            DateTime::from_timestamp(MAX_SECONDS, 0).map(|t| t.to_rfc3339()),
            Some("9999-12-31T23:59:59+00:00".to_owned())
        );
    }

    #[test]
    fn malformed_timestamp_clamps_instead_of_failing() {
        let t = from_timestamp(&Timestamp {
            seconds: i64::MAX,
            nanos: -5,
        });
        assert_eq!(t, DateTime::UNIX_EPOCH);
    }
}
