//! The auth type an instance uses and the values of that type's fields, for creating an
//! instance of a compiled connector from its typed config (`XConnector::instance`).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ActionError;

/// An auth type (one of the connector's `auth` list) with its config and secret fields, e.g.
/// `Credentials::bearer(token)` or
/// `Credentials::of("oauth_client_credentials").config("tokenUrl", url).secret("clientSecret", s)`.
/// `Credentials::default()` is the connector's default auth type (its recommended one, else
/// the first listed) with no field values. `Debug` never prints the secret values.
#[derive(Clone, Default)]
pub struct Credentials {
    kind: Option<String>,
    config: Map<String, Value>,
    secrets: Map<String, Value>,
    /// A config value that did not serialize, returned when the instance is created.
    unserializable: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("kind", &self.kind)
            .field("config", &self.config)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    /// The `none` auth type.
    pub fn none() -> Credentials {
        Credentials::of("none")
    }

    /// The `bearer` auth type with its `token` secret.
    pub fn bearer(token: impl Into<String>) -> Credentials {
        Credentials::of("bearer").secret("token", token)
    }

    /// The `basic` auth type with its `username` and `password` secrets.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::of("basic")
            .secret("username", username)
            .secret("password", password)
    }

    /// The auth type `kind` (an id of spec-format.md, e.g. `oauth_client_credentials`), its
    /// fields set with [`Credentials::config`] and [`Credentials::secret`].
    pub fn of(kind: impl Into<String>) -> Credentials {
        Credentials {
            kind: Some(kind.into()),
            ..Credentials::default()
        }
    }

    /// Set the auth type's config field `key`.
    pub fn config(mut self, key: impl Into<String>, value: impl Serialize) -> Credentials {
        let key = key.into();
        match serde_json::to_value(value) {
            Ok(value) => {
                self.config.insert(key, value);
            }
            Err(e) => {
                self.unserializable.get_or_insert(format!(
                    "the credentials' config field `{key}` does not serialize: {e}"
                ));
            }
        }
        self
    }

    /// Set the auth type's secret field `key`.
    pub fn secret(mut self, key: impl Into<String>, value: impl Into<String>) -> Credentials {
        self.secrets.insert(key.into(), Value::String(value.into()));
        self
    }

    /// Merge into the connector's own config and secrets: `authType` and the auth fields. A
    /// key set both by the connector's fields and here is an error, not an overwrite.
    pub(crate) fn merge_into(
        self,
        config: &mut Map<String, Value>,
        secrets: &mut Map<String, Value>,
    ) -> Result<(), ActionError> {
        if let Some(problem) = self.unserializable {
            return Err(ActionError::user("invalid_config", problem));
        }
        if let Some(kind) = self.kind {
            config.insert("authType".into(), Value::String(kind));
        }
        for (target, values, what) in [
            (config, self.config, "config"),
            (secrets, self.secrets, "secrets"),
        ] {
            for (k, v) in values {
                if target.contains_key(&k) {
                    return Err(ActionError::user(
                        "invalid_config",
                        format!(
                            "`{k}` is set twice in the {what}: by a connector field and by the credentials"
                        ),
                    ));
                }
                target.insert(k, v);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_the_fields_but_never_shows_a_secret() {
        let c = Credentials::of("oauth_client_credentials")
            .config("clientId", "app-1")
            .secret("clientSecret", "canary-cred-91a7");
        let shown = format!("{c:?}");
        assert!(
            shown.contains("clientSecret") && shown.contains("app-1"),
            "{shown}"
        );
        assert!(!shown.contains("canary-cred-91a7"), "{shown}");
    }

    #[test]
    fn a_key_set_by_the_connector_and_the_credentials_is_refused() {
        let mut config = Map::new();
        let mut secrets = Map::new();
        secrets.insert("token".into(), Value::String("canary-field-3c1d".into()));
        let e = Credentials::bearer("canary-cred-77e0")
            .merge_into(&mut config, &mut secrets)
            .unwrap_err();
        assert_eq!(e.code, "invalid_config");
        assert!(e.message.contains("`token` is set twice"), "{e}");
        assert!(
            !e.message.contains('b') || !e.message.contains("\"b\""),
            "{e}"
        );
    }
}
