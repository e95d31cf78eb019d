//! The [`UsageLedger`](crate::usage::UsageLedger) of both SQL backends, written once (see
//! `store/sql/tokens.rs` for the conventions): one upsert adds a call to its
//! `(instance, day, model)` row of `usage_daily`, so instances sharing a database add to the
//! same totals. Counts are stored as signed 64-bit integers, saturating at `i64::MAX`.

/// A count as the database stores it.
pub(crate) fn to_db(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored count; a negative one (never written) reads as 0.
pub(crate) fn from_db(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `usage_ledger!(Store)`: the store type (field `pool`); the SQL is the same on both.
macro_rules! usage_ledger {
    ($store:ty) => {
        const _: () = {
            use async_trait::async_trait;
            use sqlx::Row;

            use $crate::error::ActionError;
            use $crate::store::error::StoreError;
            use $crate::store::sql::usage::{from_db, to_db};
            use $crate::usage::{TokenUsage, UsageEntry, UsageLedger, UsageQuery, UsageRow};

            #[async_trait]
            impl UsageLedger for $store {
                async fn record(&self, e: &UsageEntry) -> Result<(), ActionError> {
                    sqlx::query(
                        "INSERT INTO usage_daily (instance, day, model, calls, prompt_tokens, \
                         completion_tokens, total_tokens) VALUES ($1, $2, $3, 1, $4, $5, $6) \
                         ON CONFLICT (instance, day, model) DO UPDATE SET \
                         calls = usage_daily.calls + 1, \
                         prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens, \
                         completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens, \
                         total_tokens = usage_daily.total_tokens + excluded.total_tokens",
                    )
                    .bind(&e.instance)
                    .bind(&e.day)
                    .bind(&e.model)
                    .bind(to_db(e.usage.prompt_tokens))
                    .bind(to_db(e.usage.completion_tokens))
                    .bind(to_db(e.usage.total_tokens))
                    .execute(&self.pool)
                    .await
                    .map_err(StoreError::from)?;
                    Ok(())
                }

                async fn rows(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, ActionError> {
                    let rows = sqlx::query(
                        "SELECT day, model, calls, prompt_tokens, completion_tokens, total_tokens \
                         FROM usage_daily WHERE instance = $1 AND day >= $2 AND day <= $3 \
                         AND ($4 IS NULL OR model = $4) ORDER BY day, model",
                    )
                    .bind(&q.instance)
                    .bind(&q.from)
                    .bind(&q.to)
                    .bind(q.model.as_deref())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::from)?;
                    rows.iter()
                        .map(|r| -> Result<UsageRow, StoreError> {
                            Ok(UsageRow {
                                day: r.try_get("day")?,
                                model: r.try_get("model")?,
                                calls: from_db(r.try_get("calls")?),
                                usage: TokenUsage {
                                    prompt_tokens: from_db(r.try_get("prompt_tokens")?),
                                    completion_tokens: from_db(r.try_get("completion_tokens")?),
                                    total_tokens: from_db(r.try_get("total_tokens")?),
                                },
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(ActionError::from)
                }
            }
        };
    };
}

pub(crate) use usage_ledger;
