//! Times as the API writes them (RFC 3339, UTC, milliseconds) and reads them (any RFC 3339).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the UNIX epoch now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `2026-12-07T03:35:45.123Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    let nanos = i128::from(ms).saturating_mul(1_000_000);
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Milliseconds since the UNIX epoch of an RFC 3339 time (any offset).
pub fn parse_ms(text: &str) -> Result<u64, String> {
    let t = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("'{text}' is not an RFC 3339 time: {e}"))?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("'{text}' is before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_with_milliseconds() {
        let ms = 1_796_614_545_123;
        let text = rfc3339_ms(ms);
        assert_eq!(text, "2026-12-07T03:35:45.123Z");
        assert_eq!(parse_ms(&text).unwrap(), ms);
        assert_eq!(parse_ms("2026-12-07T04:35:45.123+01:00").unwrap(), ms);
        assert!(parse_ms("yesterday").is_err());
        assert!(parse_ms("1969-12-31T23:59:59Z").is_err());
    }
}
