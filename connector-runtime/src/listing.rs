//! Listings: what a paginated action returns, and why a listing stopped before the provider's
//! last page.

use serde::Serialize;
use serde_json::Value;

/// The limit that ended a listing while the provider had more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ListingLimit {
    /// The spec's `pagination.maxRecords`.
    MaxRecords,
    /// The spec's `pagination.maxPages`.
    MaxPages,
    /// The built-in page cap ([`crate::executor::DEFAULT_MAX_PAGES`]) of a spec that sets no
    /// `maxPages`.
    DefaultPageCap,
}

impl ListingLimit {
    /// The name a user sees (the spec key, or `the built-in page cap`).
    pub fn as_str(self) -> &'static str {
        match self {
            ListingLimit::MaxRecords => "maxRecords",
            ListingLimit::MaxPages => "maxPages",
            ListingLimit::DefaultPageCap => "the built-in page cap",
        }
    }
}

/// A listing cut short by a limit: more records exist at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Truncation {
    pub limit: ListingLimit,
    /// The limit's value (records for `maxRecords`, pages otherwise).
    pub value: u64,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hint = match self.limit {
            ListingLimit::DefaultPageCap => "; set `pagination.maxPages` to change it",
            _ => "",
        };
        write!(
            f,
            "listing stopped at {} ({}); more records exist{hint}",
            self.limit.as_str(),
            self.value
        )
    }
}

/// The records of a paginated action, and whether a limit cut the listing short.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    pub records: Vec<Value>,
    pub truncated: Option<Truncation>,
}
