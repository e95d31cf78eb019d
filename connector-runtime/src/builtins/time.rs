//! Timestamps for the built-in handlers: milliseconds since the Unix epoch as RFC 3339.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (IBM SOAR's timestamps) as RFC 3339 in UTC.
pub(super) fn epoch_ms_rfc3339(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (secs, millis) = (rem / 1000, rem % 1000);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Now, in milliseconds since the Unix epoch (0 for a clock set before 1970).
pub(super) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_milliseconds_become_rfc3339() {
        assert_eq!(epoch_ms_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            epoch_ms_rfc3339(1_795_685_400_123),
            "2026-11-26T09:30:00.123Z"
        );
        assert_eq!(
            epoch_ms_rfc3339(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(epoch_ms_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }
}
