//! Runtime events for an observer: upstream retries, rate-limit waits and token refreshes,
//! which happen inside the HTTP layers and the OAuth flows where a caller cannot see them.
//!
//! A server implements [`RuntimeEvents`] (its metrics) and hands it to
//! [`crate::InstanceRuntime::with_events`] and [`crate::oauth::OAuthSettings::with_events`].
//! Unset, [`Events`] is a `None` check per event: no allocation, no call.

use std::sync::Arc;
use std::time::Duration;

use crate::error::ActionError;

/// Receives runtime events, each labelled with the connector type (`.jira`, `github`).
/// Every method defaults to doing nothing. Called on the request path: keep them cheap.
pub trait RuntimeEvents: Send + Sync {
    /// A request is about to be sent again after a retryable reply or error.
    fn upstream_retry(&self, _connector_type: &str) {}
    /// A request waited `waited` at the rate-limit gate before it was sent.
    fn rate_limit_wait(&self, _connector_type: &str, _waited: Duration) {}
    /// An access token was refreshed (`Ok`) or its refresh failed (`Err`, with why).
    fn token_refresh(&self, _connector_type: &str, _outcome: Result<(), &ActionError>) {}
    /// A model call (or a stream, when it ended) reported its token usage.
    fn model_usage(&self, _connector_type: &str, _usage: &crate::usage::TokenUsage) {}
}

/// An optional observer bound to one connector type: what the layers carry.
#[derive(Clone, Default)]
pub struct Events {
    sink: Option<(Arc<dyn RuntimeEvents>, Arc<str>)>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events")
            .field("observed", &self.sink.is_some())
            .finish()
    }
}

impl Events {
    /// Events of `connector_type` delivered to `sink`.
    pub fn new(sink: Arc<dyn RuntimeEvents>, connector_type: &str) -> Events {
        Events {
            sink: Some((sink, Arc::from(connector_type))),
        }
    }

    /// No observer (the default).
    pub fn none() -> Events {
        Events::default()
    }

    pub fn model_usage(&self, usage: &crate::usage::TokenUsage) {
        if let Some((s, t)) = &self.sink {
            s.model_usage(t, usage);
        }
    }

    pub fn upstream_retry(&self) {
        if let Some((s, t)) = &self.sink {
            s.upstream_retry(t);
        }
    }

    pub fn rate_limit_wait(&self, waited: Duration) {
        if let Some((s, t)) = &self.sink {
            s.rate_limit_wait(t, waited);
        }
    }

    pub fn token_refresh(&self, outcome: Result<(), &ActionError>) {
        if let Some((s, t)) = &self.sink {
            s.token_refresh(t, outcome);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl RuntimeEvents for Log {
        fn upstream_retry(&self, t: &str) {
            self.0.lock().unwrap().push(format!("retry {t}"));
        }
        fn rate_limit_wait(&self, t: &str, waited: Duration) {
            self.0
                .lock()
                .unwrap()
                .push(format!("wait {t} {}", waited.as_millis()));
        }
        fn token_refresh(&self, t: &str, outcome: Result<(), &ActionError>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("refresh {t} {}", outcome.is_ok()));
        }
    }

    #[test]
    fn events_reach_the_sink_with_the_connector_type_and_none_is_silent() {
        let log = Arc::new(Log::default());
        let events = Events::new(log.clone(), ".jira");
        events.upstream_retry();
        events.rate_limit_wait(Duration::from_millis(1500));
        events.token_refresh(Err(&ActionError::auth("refresh_failed", "no")));
        Events::none().upstream_retry();
        assert_eq!(
            *log.0.lock().unwrap(),
            ["retry .jira", "wait .jira 1500", "refresh .jira false"]
        );
        assert_eq!(format!("{events:?}"), "Events { observed: true }");
    }
}
