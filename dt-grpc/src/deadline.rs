//! Reading the caller's deadline from the `grpc-timeout` header.

use std::time::Duration;
use tonic::metadata::MetadataMap;

/// The time the caller allows, if it sent a deadline. A malformed header counts as none.
pub(crate) fn caller_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    parse_grpc_timeout(value)
}

/// Parses the `grpc-timeout` format: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_timeouts() {
        let rows = [
            ("1H", Some(Duration::from_secs(3600))),
            ("2M", Some(Duration::from_secs(120))),
            ("59998m", Some(Duration::from_millis(59998))),
            ("10S", Some(Duration::from_secs(10))),
            ("5u", Some(Duration::from_micros(5))),
            ("7n", Some(Duration::from_nanos(7))),
            ("S", None),
            ("10x", None),
            ("123456789S", None),
            ("-1S", None),
        ];
        for (input, want) in rows {
            assert_eq!(parse_grpc_timeout(input), want, "row {input:?}");
        }
    }
}
