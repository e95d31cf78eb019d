//! RFC 3339 timestamps for the built-in handlers: vendors that answer with epoch milliseconds
//! (TheHive, XSOAR's `modified`), and "now" for ES Index's execution-time field.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 as (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`; `None` outside years 0-9999.
pub fn rfc3339_from_millis(ms: i64) -> Option<String> {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return None;
    }
    let s = secs.rem_euclid(86_400);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    ))
}

/// The current time, as [`rfc3339_from_millis`] writes it.
pub fn now_rfc3339() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    rfc3339_from_millis(ms).unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_millis() {
        assert_eq!(
            rfc3339_from_millis(0).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(
            rfc3339_from_millis(1_712_912_400_123).as_deref(),
            Some("2024-04-12T09:00:00.123Z")
        );
        // A leap day and the last millisecond of a day.
        assert_eq!(
            rfc3339_from_millis(951_868_799_999).as_deref(),
            Some("2000-02-29T23:59:59.999Z")
        );
        assert_eq!(
            rfc3339_from_millis(-1).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        assert_eq!(rfc3339_from_millis(i64::MAX), None);
    }

    #[test]
    fn now_is_after_2024() {
        assert!(now_rfc3339().as_str() > "2024-01-01T00:00:00.000Z");
    }
}
