//! Conversions between `chrono` times and protobuf timestamps.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

/// A protobuf timestamp for `t`.
pub fn to_timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The time a protobuf timestamp names; out-of-range or malformed values clamp to the epoch
/// rather than failing, because a client's odd timestamp must not take down a request path.
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
    fn malformed_timestamp_clamps_instead_of_failing() {
        let t = from_timestamp(&Timestamp {
            seconds: i64::MAX,
            nanos: -5,
        });
        assert_eq!(t, DateTime::UNIX_EPOCH);
    }
}
