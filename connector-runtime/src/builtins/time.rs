//! Timestamps for the built-in handlers: vendors that answer with epoch milliseconds
//! (TheHive, IBM SOAR, XSOAR's `modified`), and "now" (ES Index's execution-time field,
//! Swimlane's comments, SOAR's discovery time), as RFC 3339 in UTC with milliseconds.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
const RFC3339_MILLIS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`; `None` outside years 0-9999.
pub fn rfc3339_from_millis(ms: i64) -> Option<String> {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    t.format(RFC3339_MILLIS).ok()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The current time, as [`rfc3339_from_millis`] writes it.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    // Today is within years 0-9999, which the format needs.
    now.format(RFC3339_MILLIS)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_millis() {
        for (ms, text) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_712_912_400_123, "2024-04-12T09:00:00.123Z"),
            (1_795_685_400_123, "2026-11-26T09:30:00.123Z"),
            // A leap day and the last millisecond of a day.
            (951_868_799_999, "2000-02-29T23:59:59.999Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(rfc3339_from_millis(ms).as_deref(), Some(text), "{ms}");
        }
        assert_eq!(rfc3339_from_millis(i64::MAX), None);
        assert_eq!(rfc3339_from_millis(253_402_300_800_000), None, "year 10000");
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_rfc3339().as_str() > "2024-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_from_millis(now_ms()).unwrap().len(), 24);
    }
}
