//! Per-user contract tests: a bundled per-user spec (`oauth_authorization_code`) pointed at a
//! loopback vendor, its tokens in a real SQLite store, each user connected through the real
//! OAuth flow (start, the provider's redirect with a code, the token exchange at the mock's
//! token endpoint) and actions run as that user.

use std::sync::Arc;

use connector_runtime::oauth::{CallbackParams, OAuthFlows, OAuthSettings, StartOptions};
use connector_runtime::store::{Keyring, SqliteStore};
use connector_runtime::{
    ActionError, ConnectorInstance, Dispatcher, ExecuteOptions, InstanceRuntime, Registry,
};
use connector_spec::ConnectorSpec;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::assert_no_canary;

/// The redirect URI the flows send (nothing listens there: the test plays the browser).
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/api/oauth/callback";

/// The instance id the per-user instance is registered under.
pub const INSTANCE: &str = "contract-instance";

/// A per-user instance of a spec with its OAuth flows and a token store in a temp dir.
pub struct PerUser {
    pub flows: Arc<OAuthFlows>,
    pub runtime: InstanceRuntime,
    pub dispatcher: Arc<Dispatcher>,
    _dir: tempfile::TempDir,
}

impl PerUser {
    /// `config` names the auth type (`authType`) and overrides the spec's OAuth defaults with
    /// the mock's URLs, as a deployment overrides them with its own client.
    pub async fn new(spec: ConnectorSpec, config: Value, secrets: Value) -> PerUser {
        let dir = tempfile::tempdir().unwrap();
        let keyring = Keyring::single("contract", &[9u8; 32]).unwrap();
        let stores = SqliteStore::open(&dir.path().join("tokens.db"), keyring)
            .await
            .expect("open the SQLite token store")
            .stores();
        let settings = OAuthSettings::new(REDIRECT_URI).unwrap();
        let flows = OAuthFlows::new(stores.tokens, stores.states, settings).unwrap();
        let spec = Arc::new(spec);
        let instance = ConnectorInstance::new(Arc::clone(&spec), config, secrets)
            .unwrap_or_else(|e| panic!("instance: {e}"));
        flows
            .register(INSTANCE, &instance)
            .unwrap_or_else(|e| panic!("register: {e}"));
        let runtime = InstanceRuntime::new(instance)
            .unwrap_or_else(|e| panic!("runtime: {e}"))
            .with_user_auth(flows.user_auth(INSTANCE).unwrap());
        let mut registry = Registry::with_builtins();
        let dispatcher = registry
            .register_spec((*spec).clone())
            .unwrap_or_else(|e| panic!("register: {e}"));
        PerUser {
            flows,
            runtime,
            dispatcher,
            _dir: dir,
        }
    }

    /// Start `user`'s authorization: the URL the browser would be sent to.
    pub async fn authorization_url(&self, user: &str) -> url::Url {
        let a = self
            .flows
            .start(INSTANCE, user, StartOptions::default())
            .await
            .unwrap_or_else(|e| panic!("start: {e}"));
        url::Url::parse(&a.authorization_url).unwrap()
    }

    /// Connect `user`: start, then come back with `code` as the provider's redirect would;
    /// the flows exchange it at the token endpoint. Returns the authorization URL.
    pub async fn connect(&self, user: &str, code: &str) -> Result<url::Url, ActionError> {
        let url = self.authorization_url(user).await;
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned())
            .expect("state in the authorization URL");
        let params = CallbackParams {
            state: Some(state),
            code: Some(code.to_string()),
            ..CallbackParams::default()
        };
        self.flows.callback(user, params).await?;
        Ok(url)
    }

    /// Run `action` as `user` (first page only).
    pub async fn run_as(
        &self,
        user: &str,
        action: &str,
        input: Value,
    ) -> Result<Value, ActionError> {
        self.run(user, action, input, ExecuteOptions::default())
            .await
    }

    /// Run `action` as `user`, following every page.
    pub async fn run_all_as(
        &self,
        user: &str,
        action: &str,
        input: Value,
    ) -> Result<Value, ActionError> {
        self.run(user, action, input, ExecuteOptions { all_pages: true })
            .await
    }

    async fn run(
        &self,
        user: &str,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        let ctx = self.runtime.context(user, CancellationToken::new());
        let r = self.dispatcher.execute(&ctx, action, input, opts).await;
        if let Err(e) = &r {
            assert_no_canary(e);
        }
        r
    }

    /// The connection test as `user`.
    pub async fn test_as(&self, user: &str) -> Result<Value, ActionError> {
        let ctx = self.runtime.context(user, CancellationToken::new());
        let r = self.dispatcher.test(&ctx).await;
        if let Err(e) = &r {
            assert_no_canary(e);
        }
        r
    }
}

/// The form fields of a token request (`application/x-www-form-urlencoded`).
pub fn form(r: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&r.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// One form field of a token request.
pub fn form_field(r: &wiremock::Request, name: &str) -> Option<String> {
    form(r).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}
