//! The redaction layer: every error that comes back up the stack has each known secret
//! (configured, or obtained at run time such as an OAuth token) removed from its message.

use super::layer::{Layer, Next, Reply};
use crate::auth::AuthStrategy;
use crate::error::ActionError;
use crate::secrets::Redactor;

/// Scrubs errors with the instance's redactor and the auth strategy's run-time secrets.
pub struct Redact<'a> {
    pub redactor: &'a Redactor,
    pub auth: &'a dyn AuthStrategy,
}

/// Remove every known secret from an error's message.
pub fn scrub(redactor: &Redactor, auth: &dyn AuthStrategy, mut e: ActionError) -> ActionError {
    let runtime = auth.runtime_secrets();
    e.message = if runtime.is_empty() {
        redactor.redact(&e.message)
    } else {
        redactor.with(runtime).redact(&e.message)
    };
    e
}

#[async_trait::async_trait]
impl Layer for Redact<'_> {
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError> {
        next.run(req)
            .await
            .map_err(|e| scrub(self.redactor, self.auth, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{Counter, fail, get, run_one};

    #[derive(Debug)]
    struct TokenAuth;

    #[async_trait::async_trait]
    impl AuthStrategy for TokenAuth {
        async fn apply(&self, _req: &mut reqwest::Request) -> Result<(), ActionError> {
            Ok(())
        }
        fn runtime_secrets(&self) -> Vec<String> {
            vec!["tok-RUNTIME-123".into()]
        }
    }

    #[tokio::test]
    async fn configured_and_runtime_secrets_are_removed_from_errors() {
        let redactor = Redactor::new(["cfg-SECRET-456".to_string()]);
        let counter = Counter::script(vec![fail(ActionError::connection_failed(
            "failed with tok-RUNTIME-123 and cfg-SECRET-456",
        ))]);
        let layer = Redact {
            redactor: &redactor,
            auth: &TokenAuth,
        };
        let err = run_one(&layer, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert!(!err.message.contains("tok-RUNTIME-123"), "{err}");
        assert!(!err.message.contains("cfg-SECRET-456"), "{err}");
        assert!(err.message.starts_with("failed with"), "{err}");
        assert_eq!(err.code, "connection_failed");
    }
}
