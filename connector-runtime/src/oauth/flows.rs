//! The OAuth flow manager: start an authorization, finish it in the callback, hand out
//! access tokens, refresh them under a single-flight lock, disconnect and cancel.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::pkce::Pkce;
use super::provider::OAuthClient;
pub use super::refresh::TokenOwner;
use super::settings::OAuthSettings;
use super::token::{TokenEndpointError, TokenSet};
use crate::error::{ActionError, ErrorClass};
use crate::events::Events;
use crate::instance::ConnectorInstance;
use crate::secrets::Redactor;
use crate::store::{
    NewOAuthState, OAuthStateStore, RefreshGuard, RefreshLocks, StoreError, Timestamp, TokenData,
    TokenId, TokenRecord, TokenStore, TokenUpdate, UserTokenKey,
};

/// A per-user token's last use is recorded at most this often (it drives the cleanup of
/// tokens unused for 90 days; a write per request would be waste).
const TOUCH_EVERY: Duration = Duration::from_secs(60 * 60);

/// A connector registered for OAuth: its instance id and endpoints.
pub struct OAuthConnector {
    /// The connector instance id (the token store's `connector_id`).
    pub id: String,
    pub client: OAuthClient,
    /// The instance's secrets and the client's wire forms.
    redactor: Redactor,
    /// Told of this connector's refreshes.
    events: Events,
    /// How its users' account values are found (`auth.account`), when the spec has any.
    account: Option<super::account::AccountValues>,
}

impl std::fmt::Debug for OAuthConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConnector")
            .field("id", &self.id)
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl OAuthConnector {
    /// Secret values to scrub from messages about this connector.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }
}

/// Options for [`OAuthFlows::start`].
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub tenant: Option<String>,
    /// Where the caller wants the user sent after the callback (returned by the callback).
    pub return_url: Option<String>,
    /// SHA-256 (hex) of a cookie the caller set in the user's browser, kept with the state
    /// (metadata `browser_sha256`) so the callback, on whichever server instance it lands,
    /// can tell the browser that started the flow.
    pub browser_sha256: Option<String>,
}

/// The state metadata key of [`StartOptions::browser_sha256`].
pub const BROWSER_SHA256: &str = "browser_sha256";

/// A started authorization: send the user's browser to `authorization_url`.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub authorization_url: String,
    /// The `state` value (not a secret: it travels in the URL; it is bound to the user).
    pub state: String,
    pub expires_at: Timestamp,
}

/// The query parameters the provider appended to the redirect URI. `Debug` hides the code.
#[derive(Clone, Default)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl CallbackParams {
    /// Read `state`, `code`, `error` and `error_description` from a query string.
    pub fn from_query(query: &str) -> CallbackParams {
        let mut p = CallbackParams::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "state" => p.state = v,
                "code" => p.code = v,
                "error" => p.error = v,
                "error_description" => p.error_description = v,
                _ => {}
            }
        }
        p
    }
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("state", &self.state)
            .field(
                "code",
                &self.code.as_ref().map(|_| crate::secrets::REDACTED),
            )
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

impl std::fmt::Display for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The code is a short-lived credential: never shown.
        write!(
            f,
            "callback(state: {}, code: {}, error: {:?})",
            if self.state.is_some() {
                "set"
            } else {
                "missing"
            },
            if self.code.is_some() {
                "set"
            } else {
                "missing"
            },
            self.error
        )
    }
}

/// A finished authorization.
#[derive(Debug, Clone)]
pub struct Connected {
    pub connector_id: String,
    pub user_id: String,
    pub token_id: TokenId,
    pub return_url: Option<String>,
}

/// Per-user OAuth for a runtime: flows, token hand-out and refresh for registered connectors.
pub struct OAuthFlows {
    store: Arc<dyn TokenStore>,
    states: Arc<dyn OAuthStateStore>,
    http: crate::egress::EgressClient,
    settings: OAuthSettings,
    connectors: RwLock<HashMap<String, Arc<OAuthConnector>>>,
    locks: Arc<dyn RefreshLocks>,
}

impl std::fmt::Debug for OAuthFlows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthFlows")
            .field("store", &self.store)
            .field("states", &self.states)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// What the token endpoint said, for a message. Provider text is already stripped of control
/// characters and capped in length; callers scrub known secrets before it leaves.
fn provider_says(e: &TokenEndpointError) -> String {
    e.to_string()
}

impl OAuthFlows {
    /// Flows keeping tokens in `store` and pending authorizations in `states`.
    pub fn new(
        store: Arc<dyn TokenStore>,
        states: Arc<dyn OAuthStateStore>,
        settings: OAuthSettings,
    ) -> Result<Arc<OAuthFlows>, ActionError> {
        // Token, refresh and revocation requests carry credentials: the client never follows
        // a redirect, and checks every URL (IP literals included) before it sends.
        let http = crate::egress::EgressClient::for_tokens(
            settings.egress.clone().map(Arc::new),
            Duration::from_secs(30),
        )?;
        let locks = store.refresh_locks();
        Ok(Arc::new(OAuthFlows {
            store,
            states,
            http,
            settings,
            connectors: RwLock::new(HashMap::new()),
            locks,
        }))
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    /// The token store.
    pub fn store(&self) -> &Arc<dyn TokenStore> {
        &self.store
    }

    /// The store of pending authorizations.
    pub fn states(&self) -> &Arc<dyn OAuthStateStore> {
        &self.states
    }

    /// Register a per-user connector instance under its instance id. Its auth config is
    /// checked here, so a bad authorization URL or scope parameter fails before any user
    /// is sent anywhere.
    pub fn register(
        &self,
        connector_id: &str,
        instance: &ConnectorInstance,
    ) -> Result<Arc<OAuthConnector>, ActionError> {
        let client = OAuthClient::from_instance(instance, &self.settings)
            .map_err(|e| instance.redactor().redact_error(e))?;
        let account = super::account::AccountValues::of(instance)
            .map_err(|e| instance.redactor().redact_error(e))?;
        Ok(self.insert_connector(
            connector_id,
            &instance.spec.id,
            client,
            instance.secrets.strings(),
            account,
        ))
    }

    /// Register endpoints directly (a connector whose shared token lives in the store). Its
    /// events are labelled with `connector_id`, there being no connector type.
    pub fn register_client(
        &self,
        connector_id: &str,
        client: OAuthClient,
        secrets: Vec<String>,
    ) -> Arc<OAuthConnector> {
        self.insert_connector(connector_id, connector_id, client, secrets, None)
    }

    fn insert_connector(
        &self,
        connector_id: &str,
        connector_type: &str,
        client: OAuthClient,
        secrets: Vec<String>,
        account: Option<super::account::AccountValues>,
    ) -> Arc<OAuthConnector> {
        let redactor = Redactor::new(secrets.into_iter().chain(client.secrets()));
        let events = match &self.settings.events {
            Some(sink) => Events::new(Arc::clone(sink), connector_type),
            None => Events::none(),
        };
        let c = Arc::new(OAuthConnector {
            id: connector_id.to_string(),
            client,
            redactor,
            events,
            account,
        });
        self.connectors
            .write()
            .expect("not poisoned")
            .insert(connector_id.to_string(), Arc::clone(&c));
        c
    }

    /// A registered connector.
    pub fn connector(&self, connector_id: &str) -> Result<Arc<OAuthConnector>, ActionError> {
        self.connectors
            .read()
            .expect("not poisoned")
            .get(connector_id)
            .cloned()
            .ok_or_else(|| {
                ActionError::user(
                    "unknown_connector",
                    format!("connector `{connector_id}` is not registered for OAuth"),
                )
            })
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(self.settings.now())
    }

    /// Start an authorization for `user_id`: store a state record (connector, user, tenant,
    /// return URL, the PKCE verifier sealed, created-at, expiry) and build the URL.
    pub async fn start(
        &self,
        connector_id: &str,
        user_id: &str,
        opts: StartOptions,
    ) -> Result<Authorization, ActionError> {
        require_user(user_id)?;
        let connector = self.connector(connector_id)?;
        let pkce = Pkce::generate();
        let now = self.now();
        let mut state = NewOAuthState::new(connector_id, user_id, pkce.verifier().clone(), now);
        state.expires_at = now.plus(self.settings.state_ttl);
        state.tenant = opts.tenant;
        state.return_url = opts.return_url;
        // The exchange must repeat the exact redirect URI of the authorization request.
        state.metadata = json!({ "redirect_uri": self.settings.redirect_uri });
        if let Some(b) = opts.browser_sha256 {
            state.metadata[BROWSER_SHA256] = Value::String(b);
        }
        let record = self
            .states
            .insert_state(state)
            .await
            .map_err(ActionError::from)?;
        let url =
            connector
                .client
                .authorization_url(&record.state, &pkce, &self.settings.redirect_uri);
        tracing::debug!(
            connector = connector_id,
            user = user_id,
            "OAuth authorization started"
        );
        Ok(Authorization {
            authorization_url: url.to_string(),
            state: record.state,
            expires_at: record.expires_at,
        })
    }

    /// Finish an authorization: consume the state (it must exist, be unexpired, unused and
    /// belong to `user_id`), exchange the code with the PKCE verifier, store the tokens.
    pub async fn callback(
        &self,
        user_id: &str,
        params: CallbackParams,
    ) -> Result<Connected, ActionError> {
        require_user(user_id)?;
        let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) else {
            return Err(match &params.error {
                Some(err) => provider_refusal(err, params.error_description.as_deref()),
                None => ActionError::user(
                    "invalid_callback",
                    "the OAuth callback has no `state` parameter",
                ),
            });
        };
        let record = self
            .states
            .consume_state(state, user_id, self.now())
            .await
            .map_err(ActionError::from)?;
        // The state is spent from here on: a refusal by the provider ends this attempt.
        if let Some(err) = &params.error {
            tracing::info!(
                connector = %record.connector_id,
                user = user_id,
                error = %printable(err),
                "the provider refused the authorization"
            );
            return Err(provider_refusal(err, params.error_description.as_deref()));
        }
        let Some(code) = params.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(ActionError::user(
                "invalid_callback",
                "the OAuth callback has neither `code` nor `error`",
            ));
        };
        let connector = self.connector(&record.connector_id)?;
        let (tokens, account) = self.exchange_code(&connector, &record, code).await?;
        let key = UserTokenKey {
            user_id: user_id.to_string(),
            connector_id: record.connector_id.clone(),
            credential_type: record.credential_type.clone(),
        };
        let stored = self
            .store
            .put_user_token(&key, self.token_data(tokens))
            .await
            .map_err(ActionError::from)?;
        if let Some(values) = &account {
            self.store
                .set_user_account(&key, values)
                .await
                .map_err(ActionError::from)?;
        }
        tracing::info!(connector = %record.connector_id, user = user_id, token = %stored.id, "OAuth authorization completed");
        Ok(Connected {
            connector_id: record.connector_id,
            user_id: user_id.to_string(),
            token_id: stored.id,
            return_url: record.return_url,
        })
    }

    /// Exchange the callback's code (with the state's redirect URI and PKCE verifier), then
    /// find the person's account values, if the connector has any: a failed discovery
    /// connects nothing. Errors never show the code, the verifier or the new token.
    async fn exchange_code(
        &self,
        connector: &OAuthConnector,
        record: &crate::store::OAuthStateRecord,
        code: &str,
    ) -> Result<(TokenSet, Option<serde_json::Map<String, Value>>), ActionError> {
        let redirect_uri = record
            .metadata
            .get("redirect_uri")
            .and_then(Value::as_str)
            .unwrap_or(&self.settings.redirect_uri)
            .to_string();
        let extra = [
            code.to_string(),
            record.pkce_verifier.expose_secret().to_string(),
        ];
        let tokens = connector
            .client
            .exchange_code(&self.http, code, &redirect_uri, &record.pkce_verifier)
            .await
            .map_err(|e| {
                connector
                    .redactor
                    .with(extra.clone())
                    .redact_error(exchange_error(&e))
            })?;
        // Account values before the token is kept: a failed discovery connects nothing.
        let account = match &connector.account {
            None => None,
            Some(a) => Some(a.resolve(&self.http, &tokens).await.map_err(|e| {
                let issued = [tokens.access_token.expose_secret().to_string()];
                connector
                    .redactor
                    .with(extra.iter().cloned().chain(issued))
                    .redact_error(e)
            })?),
        };
        Ok((tokens, account))
    }

    /// Cancel a pending authorization. Only its owner may; cancelling one that does not
    /// exist (or no longer does) returns `false`.
    pub async fn cancel(&self, user_id: &str, state: &str) -> Result<bool, ActionError> {
        require_user(user_id)?;
        self.states
            .delete_state(state, user_id)
            .await
            .map_err(ActionError::from)
    }

    /// Disconnect: delete every token `user_id` holds for `connector_id`, after asking the
    /// provider to revoke it where the connector can (EARS). Returns how many were deleted;
    /// a repeat call returns 0. [`OAuthFlows::disconnect_reporting`] also says how revocation
    /// went.
    pub async fn disconnect(&self, connector_id: &str, user_id: &str) -> Result<u64, ActionError> {
        Ok(self
            .disconnect_reporting(connector_id, user_id)
            .await?
            .deleted)
    }

    /// [`OAuthFlows::disconnect`], reporting whether the provider revoked the token. A failed
    /// revocation does not stop the local deletion (the user asked to be disconnected), but
    /// the caller is told, with the revocation endpoint that failed.
    pub async fn disconnect_reporting(
        &self,
        connector_id: &str,
        user_id: &str,
    ) -> Result<Disconnected, ActionError> {
        require_user(user_id)?;
        let owner = TokenOwner::User(user_id.to_string());
        let _guard = self.locks.lock(&owner.lock_key(connector_id)).await?;
        let mut revocation = Revocation::NotAttempted;
        if let Ok(connector) = self.connector(connector_id)
            && let Some(record) = self.read(connector_id, &owner).await?
        {
            let token = record
                .refresh_token
                .as_ref()
                .unwrap_or(&record.access_token);
            revocation = match connector.client.revoke(&self.http, token).await {
                Ok(true) => Revocation::Revoked,
                Ok(false) => Revocation::NotAttempted,
                Err(e) => {
                    let endpoint = connector
                        .client
                        .revoke_endpoint()
                        .map_or_else(|| "the provider".to_string(), |u| u.to_string());
                    let why = match &e {
                        TokenEndpointError::Status { status } => {
                            format!("it answered HTTP {status}")
                        }
                        other => other.to_string(),
                    };
                    let message = format!("revocation at {endpoint} failed: {why}");
                    tracing::warn!(connector = connector_id, user = user_id, "{message}");
                    Revocation::Failed(message)
                }
            };
        }
        let deleted = self
            .store
            .delete_user_tokens(user_id, connector_id)
            .await
            .map_err(ActionError::from)?;
        Ok(Disconnected {
            deleted,
            revocation,
        })
    }

    fn token_data(&self, t: TokenSet) -> TokenData {
        let now = self.now();
        TokenData {
            access_token: t.access_token,
            refresh_token: t.refresh_token,
            token_type: t.token_type.unwrap_or_else(|| "Bearer".to_string()),
            scope: t.scope,
            expires_at: t.expires_in.map(|d| now.plus(d)),
            refresh_token_expires_at: t.refresh_token_expires_in.map(|d| now.plus(d)),
        }
    }

    async fn read(
        &self,
        connector_id: &str,
        owner: &TokenOwner,
    ) -> Result<Option<TokenRecord>, ActionError> {
        let r = match owner {
            TokenOwner::Shared => self.store.get_shared_token(connector_id).await,
            TokenOwner::User(u) => {
                self.store
                    .get_user_token(&UserTokenKey::oauth(u.as_str(), connector_id))
                    .await
            }
        };
        r.map_err(ActionError::from)
    }

    /// The account values kept with `owner`'s token on `connector` (`auth.account`):
    /// `None` for a connector without any. A person connected before the spec declared them
    /// is asked to connect again.
    pub async fn account(
        &self,
        connector: &OAuthConnector,
        owner: &TokenOwner,
    ) -> Result<Option<serde_json::Map<String, Value>>, ActionError> {
        if connector.account.is_none() {
            return Ok(None);
        }
        let TokenOwner::User(user) = owner else {
            return Ok(None);
        };
        let key = UserTokenKey::oauth(user.as_str(), &connector.id);
        match self.store.get_user_account(&key).await {
            Ok(Some(values)) => Ok(Some(values)),
            Ok(None) => Err(ActionError::auth(
                "not_authorized",
                format!(
                    "user `{user}` has no account details for `{}`: connect the account \
                     (again) to record them",
                    connector.id
                ),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A usable access token for `owner`: the stored one, or a refreshed one when it expires
    /// within the refresh margin.
    pub async fn access_token(
        &self,
        connector: &OAuthConnector,
        owner: &TokenOwner,
    ) -> Result<SecretString, ActionError> {
        let record = self.usable(connector, owner).await?;
        let now = self.now();
        if !self.needs_refresh(&record, now) {
            self.touch(&record, owner, now).await;
            return Ok(record.access_token);
        }
        let record = self.refresh_locked(connector, owner, None).await?;
        Ok(record.access_token)
    }

    /// Refresh after the API refused `stale` (a 401). If another caller already replaced
    /// `stale`, its token is reused and the provider is not asked again.
    pub async fn force_refresh(
        &self,
        connector: &OAuthConnector,
        owner: &TokenOwner,
        stale: Option<&SecretString>,
    ) -> Result<SecretString, ActionError> {
        let record = self
            .refresh_locked(connector, owner, Some(stale.map(|s| s.expose_secret())))
            .await?;
        Ok(record.access_token)
    }

    /// True when the access token expires within the refresh margin. The margin is capped at
    /// half the token's lifetime, so a short-lived token is not refreshed on every call.
    fn needs_refresh(&self, record: &TokenRecord, now: Timestamp) -> bool {
        let Some(expires_at) = record.expires_at else {
            return false;
        };
        let life = Duration::from_millis(
            u64::try_from(expires_at.as_millis() - record.updated_at.as_millis()).unwrap_or(0),
        );
        record.expires_within(now, self.settings.refresh_margin.min(life / 2)) || expires_at <= now
    }

    /// The stored record, or the typed error that tells the caller what to do.
    async fn usable(
        &self,
        connector: &OAuthConnector,
        owner: &TokenOwner,
    ) -> Result<TokenRecord, ActionError> {
        let record = self
            .read(&connector.id, owner)
            .await?
            .ok_or_else(|| not_authorized(&connector.id, owner))?;
        if record.revoked {
            return Err(revoked(&connector.id, owner));
        }
        Ok(record)
    }

    async fn touch(&self, record: &TokenRecord, owner: &TokenOwner, now: Timestamp) {
        let TokenOwner::User(user) = owner else {
            return;
        };
        let recent = record
            .last_used_at
            .is_some_and(|t| t > now.minus(TOUCH_EVERY));
        if recent {
            return;
        }
        if let Err(e) = self.store.touch_user_token(user, &record.id, now).await {
            tracing::debug!(token = %record.id, error = %e, "could not record token use");
        }
    }

    /// The single-flight refresh. `forced` is `Some(stale)` after a 401 (`stale` is the
    /// token the API refused, if known); `None` when the token is expiring.
    async fn refresh_locked(
        &self,
        connector: &OAuthConnector,
        owner: &TokenOwner,
        forced: Option<Option<&str>>,
    ) -> Result<TokenRecord, ActionError> {
        let guard = self.locks.lock(&owner.lock_key(&connector.id)).await?;
        // Re-read inside the lock: whoever held it before may have refreshed already.
        let record = self.usable(connector, owner).await?;
        let now = self.now();
        let fresh = !self.needs_refresh(&record, now);
        match forced {
            None if fresh => return Ok(record),
            Some(Some(stale)) if fresh && record.access_token.expose_secret() != stale => {
                return Ok(record);
            }
            _ => {}
        }
        tracing::debug!(connector = %connector.id, owner = ?owner, forced = forced.is_some(), "refreshing the access token");
        let result = self.exchange(connector, owner, record, guard).await;
        connector.events.token_refresh(result.as_ref().map(|_| ()));
        result
    }

    /// Refresh `record` at the provider and store the result, holding `guard` (the refresh
    /// lock) until the write is done.
    async fn exchange(
        &self,
        connector: &OAuthConnector,
        owner: &TokenOwner,
        record: TokenRecord,
        guard: RefreshGuard,
    ) -> Result<TokenRecord, ActionError> {
        let now = self.now();
        let Some(refresh_token) = record.refresh_token.clone() else {
            return Err(ActionError::auth(
                "refresh_failed",
                format!(
                    "the token for {} cannot be refreshed (the provider issued no refresh \
                     token); authorize again",
                    describe(&connector.id, owner)
                ),
            ));
        };
        // Once the request is sent, the provider may rotate the refresh token: the new one then
        // exists only in its response, and the stored one is spent. The exchange and the write
        // run in a task of their own that keeps the lock, so a caller that gives up meanwhile
        // (a dropped future: a timeout, a cancelled request, a disconnected client) cannot
        // lose the rotation; the next caller waits for the write and reuses the new token.
        let exchange = {
            let (client, http, store) = (
                connector.client.clone(),
                self.http.clone(),
                Arc::clone(&self.store),
            );
            let (owner, id, version, refresh_token) = (
                owner.clone(),
                record.id.clone(),
                record.version,
                refresh_token.clone(),
            );
            tokio::spawn(async move {
                let result = match client.refresh(&http, &refresh_token).await {
                    Ok(tokens) => {
                        Ok(write_refreshed(&*store, &owner, &id, version, tokens, now).await)
                    }
                    Err(e) => Err(e),
                };
                (guard, result)
            })
        };
        let (_guard, result) = exchange.await.map_err(|e| {
            ActionError::system("refresh_failed", format!("the refresh task failed: {e}"))
        })?;
        let written = match result {
            Ok(written) => written,
            Err(e) => {
                return self
                    .refresh_failed(connector, owner, &record, &refresh_token, e)
                    .await;
            }
        };
        match written {
            Ok(r) => Ok(r),
            // Another process refreshed meanwhile: its write stands, use it.
            Err(StoreError::VersionConflict { .. }) => self.usable(connector, owner).await,
            Err(StoreError::TokenNotFound { .. }) => Err(not_authorized(&connector.id, owner)),
            Err(e) => Err(ActionError::from(e)),
        }
    }

    /// Note on the token that its refresh failed (what the connection status reports). A
    /// store failure here is logged: the refresh error is what the caller needs.
    async fn record_refresh_failure(&self, record: &TokenRecord) {
        if let Err(e) = self
            .store
            .record_refresh_failure(&record.id, self.now())
            .await
        {
            tracing::warn!(token = %record.id, error = %e, "could not record the failed refresh");
        }
    }

    /// What a refused or failed refresh means. `invalid_grant` marks the token revoked,
    /// unless another process sharing the store has just replaced it (rotation): then its
    /// newer token is the answer (`Ok`). Every error is scrubbed of both tokens.
    async fn refresh_failed(
        &self,
        connector: &OAuthConnector,
        owner: &TokenOwner,
        record: &TokenRecord,
        refresh_token: &SecretString,
        e: TokenEndpointError,
    ) -> Result<TokenRecord, ActionError> {
        let scrub = |err: ActionError| {
            connector
                .redactor
                .with([
                    refresh_token.expose_secret().to_string(),
                    record.access_token.expose_secret().to_string(),
                ])
                .redact_error(err)
        };
        if e.oauth_error() == Some("invalid_grant") {
            if let Some(newer) = self.read(&connector.id, owner).await?
                && newer.version != record.version
                && !newer.revoked
            {
                return Ok(newer);
            }
            self.record_refresh_failure(record).await;
            let marked = match owner {
                TokenOwner::Shared => self.store.revoke_shared_token(&record.id).await,
                TokenOwner::User(u) => self.store.revoke_user_token(u, &record.id).await,
            };
            if let Err(store_err) = marked {
                tracing::warn!(token = %record.id, error = %store_err, "could not mark the token revoked");
            }
            tracing::info!(connector = %connector.id, owner = ?owner, "refresh token refused (invalid_grant): marked revoked");
            let mut err = revoked(&connector.id, owner);
            err.message = format!("{}; the provider said: {}", err.message, provider_says(&e));
            return Err(scrub(err.with_status(e.status().unwrap_or(400))));
        }
        self.record_refresh_failure(record).await;
        let (class, code) = match &e {
            TokenEndpointError::Refused(_) => (ErrorClass::User, "egress_refused"),
            e if e.is_transient() => (ErrorClass::Transient, "refresh_failed"),
            _ => (ErrorClass::Auth, "refresh_failed"),
        };
        let mut err = ActionError::new(
            class,
            code,
            format!(
                "refreshing the token for {} failed: {}",
                describe(&connector.id, owner),
                provider_says(&e)
            ),
        );
        if let Some(s) = e.status() {
            err = err.with_status(s);
        }
        Err(scrub(err))
    }
}

/// Store a refresh's result over version `version` of token `id`.
async fn write_refreshed(
    store: &dyn TokenStore,
    owner: &TokenOwner,
    id: &TokenId,
    version: u64,
    tokens: TokenSet,
    now: Timestamp,
) -> Result<TokenRecord, StoreError> {
    let update = TokenUpdate {
        access_token: tokens.access_token,
        // None keeps the stored refresh token: providers that do not rotate send none.
        refresh_token: tokens.refresh_token,
        refresh_token_expires_at: tokens.refresh_token_expires_in.map(|d| now.plus(d)),
        token_type: tokens.token_type,
        scope: tokens.scope,
        expires_at: tokens.expires_in.map(|d| now.plus(d)),
    };
    match owner {
        TokenOwner::Shared => store.update_shared_token(id, Some(version), update).await,
        TokenOwner::User(u) => store.update_user_token(u, id, Some(version), update).await,
    }
}

fn require_user(user_id: &str) -> Result<(), ActionError> {
    if user_id.is_empty() {
        Err(ActionError::auth(
            "user_required",
            "per-user authorization needs a user id",
        ))
    } else {
        Ok(())
    }
}

fn describe(connector_id: &str, owner: &TokenOwner) -> String {
    match owner {
        TokenOwner::Shared => format!("connector `{connector_id}`"),
        TokenOwner::User(u) => format!("user `{u}` on connector `{connector_id}`"),
    }
}

/// What a disconnect did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnected {
    /// Tokens deleted from the store.
    pub deleted: u64,
    pub revocation: Revocation,
}

/// Whether the provider was asked to revoke the token, and how that went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The connector cannot revoke (no revocation endpoint), or there was no token.
    NotAttempted,
    Revoked,
    /// The provider did not confirm; the message names the endpoint and never a token.
    Failed(String),
}

/// No token stored: the user must go through the authorization flow first.
pub fn not_authorized(connector_id: &str, owner: &TokenOwner) -> ActionError {
    ActionError::auth(
        "not_authorized",
        match owner {
            TokenOwner::User(u) => format!(
                "user `{u}` has not authorized connector `{connector_id}`: authorize first \
                 (start the OAuth flow for this user)"
            ),
            TokenOwner::Shared => {
                format!("connector `{connector_id}` has no stored token: authorize it first")
            }
        },
    )
}

fn revoked(connector_id: &str, owner: &TokenOwner) -> ActionError {
    ActionError::auth(
        "token_revoked",
        format!(
            "the provider revoked the token for {}: authorize again",
            describe(connector_id, owner)
        ),
    )
}

fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// A provider's `error=` on the callback, as a clear message.
fn provider_refusal(error: &str, description: Option<&str>) -> ActionError {
    let error = printable(error);
    let description = description
        .map(|d| {
            d.chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect::<String>()
        })
        .filter(|d| !d.is_empty());
    let what = match error.as_str() {
        "access_denied" => "the user declined the authorization".to_string(),
        "invalid_scope" => "the provider refused the requested scope".to_string(),
        "unauthorized_client" => {
            "the provider does not allow this client to use the authorization code grant"
                .to_string()
        }
        "invalid_request" => "the provider found the authorization request invalid".to_string(),
        "server_error" | "temporarily_unavailable" => {
            "the provider could not complete the authorization; try again".to_string()
        }
        _ => "the provider refused the authorization".to_string(),
    };
    let code = if error == "access_denied" {
        "authorization_denied"
    } else {
        "authorization_failed"
    };
    ActionError::auth(
        code,
        match description {
            Some(d) => format!("{what} (`{error}`: {d})"),
            None => format!("{what} (`{error}`)"),
        },
    )
}

fn exchange_error(e: &TokenEndpointError) -> ActionError {
    let err = match e {
        TokenEndpointError::Provider { .. } => ActionError::auth(
            "code_exchange_failed",
            format!(
                "the provider refused the authorization code: {}; start the authorization again",
                provider_says(e)
            ),
        ),
        TokenEndpointError::Malformed { .. } => {
            ActionError::auth("invalid_token_response", provider_says(e))
        }
        TokenEndpointError::Refused(_) => ActionError::user(
            "egress_refused",
            format!(
                "exchanging the authorization code failed: {}",
                provider_says(e)
            ),
        ),
        TokenEndpointError::Status { .. }
        | TokenEndpointError::Transport(_)
        | TokenEndpointError::Assertion(_) => {
            let class = if e.is_transient() {
                ErrorClass::Transient
            } else {
                ErrorClass::Auth
            };
            ActionError::new(
                class,
                "token_request_failed",
                format!(
                    "exchanging the authorization code failed: {}",
                    provider_says(e)
                ),
            )
        }
    };
    match e.status() {
        Some(s) => err.with_status(s),
        None => err,
    }
}
