//! [`TokenScope`]: whether a token is shared by a connector or held by one user of it.

use std::fmt;

/// Prefix of a shared token id.
pub const SHARED_PREFIX: &str = "shared:";
/// Prefix of a per-user token id.
pub const PER_USER_PREFIX: &str = "per-user:";

/// Whether a token belongs to a connector (shared) or to one user of it (per-user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenScope {
    Shared,
    PerUser,
}

impl TokenScope {
    /// `shared` / `per-user`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Shared => "shared",
            TokenScope::PerUser => "per-user",
        }
    }

    pub(crate) fn prefix(self) -> &'static str {
        match self {
            TokenScope::Shared => SHARED_PREFIX,
            TokenScope::PerUser => PER_USER_PREFIX,
        }
    }
}

impl fmt::Display for TokenScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
