//! Who an action call runs as: the instance's shared credentials, or one user's own.

/// Who a call runs as. On a shared-auth instance every caller uses the instance's
/// credentials; on a per-user instance (`oauth_authorization_code`, EARS) a call as
/// [`Caller::User`] uses that user's stored token and a [`Caller::Shared`] call fails with the
/// typed auth error `user_required`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Caller {
    /// No particular user: the instance's own credentials.
    #[default]
    Shared,
    /// The user with this id (the server's user name, the local CLI user).
    User(String),
}

impl Caller {
    /// The user `id`.
    pub fn user(id: impl Into<String>) -> Caller {
        Caller::User(id.into())
    }

    /// The user id the runtime keys per-user state by: empty for [`Caller::Shared`].
    pub fn user_id(&self) -> &str {
        match self {
            Caller::Shared => "",
            Caller::User(id) => id,
        }
    }
}
