//! Waiting: how long a provider asks to wait (`Retry-After`, reset headers), the cap on any
//! single wait, and a sleep that ends early when the call is cancelled.

use std::time::{Duration, SystemTime};

use connector_spec::{ResetFormat, RetryPolicy};
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use crate::error::ActionError;

/// The longest single wait: the retry policy's `maxWaitMs`, else 30 s.
pub fn max_wait(retry: Option<&RetryPolicy>) -> Duration {
    retry.map_or(Duration::from_secs(30), |r| {
        Duration::from_millis(r.max_wait_ms)
    })
}

/// A wait the provider asked for, when it is within `cap`; a longer one fails with
/// `rate_limited` naming the wait, so a request never goes out earlier than allowed.
pub(crate) fn within_cap(
    wait: Duration,
    cap: Duration,
    who: &str,
) -> Result<Duration, ActionError> {
    if wait <= cap {
        return Ok(wait);
    }
    Err(ActionError::rate_limited(format!(
        "{who} {} before the next request, longer than the retry policy allows \
         (maxWaitMs: {}); try again after that",
        human_wait(wait),
        cap.as_millis()
    )))
}

/// Sleep for `d`, or fail with `cancelled` as soon as `cancel` fires.
pub(crate) async fn sleep(d: Duration, cancel: &CancellationToken) -> Result<(), ActionError> {
    if d.is_zero() {
        return Ok(());
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cancel.cancelled() => Err(ActionError::cancelled()),
    }
}

/// `3 s`, `1.5 s`, `250 ms`.
fn human_wait(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let secs = d.as_secs_f64();
        if secs.fract() < 0.05 {
            format!("{} s", secs.round() as u64)
        } else {
            format!("{secs:.1} s")
        }
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_reset(v, Some(ResetFormat::DeltaSeconds))
        .or_else(|| parse_reset(v, Some(ResetFormat::HttpDate)))
}

/// How long to wait according to a reset header value.
pub fn parse_reset(v: &str, format: Option<ResetFormat>) -> Option<Duration> {
    let v = v.trim();
    let now = SystemTime::now();
    match format.unwrap_or(ResetFormat::DeltaSeconds) {
        ResetFormat::DeltaSeconds => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        ResetFormat::EpochSeconds => {
            let at = SystemTime::UNIX_EPOCH
                + Duration::from_secs_f64(
                    v.parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s >= 0.0)?,
                );
            Some(at.duration_since(now).unwrap_or_default())
        }
        ResetFormat::EpochMillis => {
            let at = SystemTime::UNIX_EPOCH + Duration::from_millis(v.parse::<u64>().ok()?);
            Some(at.duration_since(now).unwrap_or_default())
        }
        ResetFormat::HttpDate => {
            let at = httpdate::parse_http_date(v).ok()?;
            Some(at.duration_since(now).unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        let future = SystemTime::now() + Duration::from_secs(5);
        h.insert(
            "retry-after",
            httpdate::fmt_http_date(future).parse().unwrap(),
        );
        let w = retry_after(&h).unwrap();
        assert!(
            w <= Duration::from_secs(5) && w >= Duration::from_secs(3),
            "{w:?}"
        );
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_wait_within_the_cap_is_kept_and_a_longer_one_names_itself() {
        let cap = Duration::from_secs(10);
        assert_eq!(
            within_cap(Duration::from_secs(3), cap, "x")
                .unwrap()
                .as_secs(),
            3
        );
        let e = within_cap(
            Duration::from_millis(1500),
            Duration::from_secs(1),
            "the provider asked to wait",
        )
        .unwrap_err();
        assert_eq!(e.code, "rate_limited");
        assert!(
            e.message.contains("1.5 s") && e.message.contains("maxWaitMs: 1000"),
            "{e}"
        );
    }
}
