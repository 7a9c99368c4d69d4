//! `Retry-After` as the Logs Ingestion API sends it with 429 and 503: delay-seconds or an
//! HTTP date (RFC 9110, IMF-fixdate). Pure: the current time is passed in.
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// Longest wait honoured: a larger value (or a date far ahead) is read as this, so that one
/// odd header cannot stall delivery for hours; the call is then retried and may be told again.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The wait a `Retry-After` value asks for, seen at `now`; `None` when it is neither form.
/// A date in the past asks for no wait.
pub fn parse(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let format =
        format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");
    let at = time::PrimitiveDateTime::parse(value, &format).ok()?.assume_utc();
    let wait = at - now;
    Some(if wait.is_negative() { Duration::ZERO } else { Duration::try_from(wait).ok()?.min(MAX_RETRY_AFTER) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-07 04:00:00 UTC);

    #[test]
    fn seconds_are_read_and_capped() {
        assert_eq!(parse("7", NOW), Some(Duration::from_secs(7)));
        assert_eq!(parse(" 0 ", NOW), Some(Duration::ZERO));
        assert_eq!(parse("86400", NOW), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn http_dates_are_read_relative_to_now() {
        assert_eq!(parse("Mon, 07 Dec 2026 04:00:12 GMT", NOW), Some(Duration::from_secs(12)));
        assert_eq!(parse("Mon, 07 Dec 2026 03:59:00 GMT", NOW), Some(Duration::ZERO), "past: no wait");
        assert_eq!(parse("Tue, 08 Dec 2026 04:00:00 GMT", NOW), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn anything_else_is_none() {
        for bad in ["", "soon", "-3", "1.5", "2026-12-07T04:00:12Z", "Mon, 07 Dec 2026 04:00:12 PST"] {
            assert_eq!(parse(bad, NOW), None, "{bad:?}");
        }
    }
}
