//! `connector audit`: read the server's audit trail from its data directory, with the same
//! filters as `GET /api/audit`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use connector_runtime::store::{AuditEvent, AuditFilter, MAX_PAGE};

use crate::Outcome;

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub at: super::store_args::StoreArgs,
    /// Events done by this user, on their behalf, or to them
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Events about this instance id
    #[arg(long, value_name = "ID")]
    pub instance: Option<String>,
    /// Runs of this action
    #[arg(long, value_name = "NAME")]
    pub action: Option<String>,
    /// One operation: action.run, instance.test, instance.create, instance.update,
    /// instance.delete, oauth.start, oauth.connect, oauth.disconnect, oauth.cancel, user.*,
    /// key.*, auth.refused, auth.forbidden
    #[arg(long, value_name = "OP")]
    pub operation: Option<String>,
    /// `ok` or a failure class: invalid, denied, not_found, conflict, timeout, rate_limited,
    /// upstream, unavailable, error, cancelled
    #[arg(long, value_name = "CLASS")]
    pub outcome: Option<String>,
    /// Events at or after this time: RFC 3339 (`2026-12-01T09:00:00Z`) or an age (`24h`, `7d`)
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<i64>,
    /// Events at or before this time: RFC 3339 or an age
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<i64>,
    /// Events at most (newest first)
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE)))]
    pub limit: u32,
    /// One JSON object per line instead of columns
    #[arg(long)]
    pub json: bool,
}

/// RFC 3339, or an age before now (`90m`, `24h`, `7d`), as milliseconds since the Unix epoch.
fn parse_time(s: &str) -> Result<i64, String> {
    let at = match humantime::parse_rfc3339_weak(s) {
        Ok(t) => t,
        Err(_) => {
            let age = humantime::parse_duration(s).map_err(|_| {
                format!(
                    "`{s}` is neither an RFC 3339 time (2026-12-01T09:00:00Z) nor an age (24h, 7d)"
                )
            })?;
            SystemTime::now()
                .checked_sub(age)
                .ok_or_else(|| format!("`{s}` reaches back before 1970"))?
        }
    };
    let ms = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("`{s}` is before 1970"))?
        .as_millis();
    i64::try_from(ms).map_err(|_| format!("`{s}` is too far in the future"))
}

fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

fn line(e: &AuditEvent) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}{}\t{}ms",
        rfc3339(e.at),
        e.operation,
        opt(&e.actor),
        opt(&e.on_behalf_of),
        opt(&e.instance),
        opt(&e.action),
        opt(&e.target),
        e.outcome,
        e.code
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        e.duration_ms,
    )
}

pub async fn audit(args: AuditArgs) -> anyhow::Result<Outcome> {
    // Reading never creates a store: a mistyped --data-dir would look like an empty trail.
    let db = args.at.existing("audit trail")?;
    // The trail holds nothing sealed: no operator key is needed to read it.
    let store = args.at.open_users(&db).await?;
    let filter = AuditFilter {
        user: args.user,
        instance: args.instance,
        action: args.action,
        operation: args.operation,
        outcome: args.outcome,
        since: args.since,
        until: args.until,
        before_id: None,
        limit: args.limit,
    };
    let page = store.audit.query(&filter).await;
    store.close().await;
    for e in page?.events {
        if args.json {
            println!("{}", serde_json::to_string(&e)?);
        } else {
            println!("{}", line(&e));
        }
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_ages() {
        assert_eq!(parse_time("2026-12-01T00:00:00Z"), Ok(1_796_083_200_000));
        let day_ago = parse_time("1d").unwrap();
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap();
        assert!((now - day_ago - 86_400_000).abs() < 60_000);
        let e = parse_time("yesterday").unwrap_err();
        assert!(e.contains("RFC 3339"), "{e}");
        assert_eq!(rfc3339(1_796_083_200_000), "2026-12-01T00:00:00.000Z");
    }
}
