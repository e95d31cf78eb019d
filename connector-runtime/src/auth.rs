//! Auth strategies for shared credentials: each turns an instance's auth config and secrets
//! into what goes on the wire.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use base64::Engine;
use connector_spec::AuthTypeId;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use crate::error::ActionError;
use crate::secrets::Secrets;

/// Applies credentials to outgoing requests.
#[async_trait]
pub trait AuthStrategy: Send + Sync + std::fmt::Debug {
    /// Add credentials to a request that is about to be sent.
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError>;

    /// Called once after a 401: fetch new credentials if this strategy can. Returns `true`
    /// when the request should be retried with fresh credentials.
    async fn refresh(&self) -> Result<bool, ActionError> {
        Ok(false)
    }

    /// Credentials obtained at run time (access tokens) that must be redacted from output.
    fn runtime_secrets(&self) -> Vec<String> {
        Vec::new()
    }
}

fn header_value(value: &str, what: &str) -> Result<HeaderValue, ActionError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        ActionError::user(
            "invalid_credentials",
            format!("{what} contains characters not allowed in an HTTP header"),
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn required<'a>(secrets: &'a Secrets, key: &str, auth: AuthTypeId) -> Result<&'a str, ActionError> {
    secrets.get_str(key).ok_or_else(|| {
        ActionError::user(
            "missing_secret",
            format!("auth type `{auth}` needs the secret `{key}`"),
        )
    })
}

fn config_str<'a>(config: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// No credentials.
#[derive(Debug)]
pub struct NoAuth;

#[async_trait]
impl AuthStrategy for NoAuth {
    async fn apply(&self, _req: &mut reqwest::Request) -> Result<(), ActionError> {
        Ok(())
    }
}

/// Fixed headers, computed once (basic, bearer, api_key_header, headers).
pub struct StaticHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl std::fmt::Debug for StaticHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.headers.iter().map(|(n, _)| n.as_str()))
            .finish()
    }
}

#[async_trait]
impl AuthStrategy for StaticHeaders {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        for (name, value) in &self.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(())
    }

    /// The wire forms, which the configured secrets alone do not match: `base64(user:pass)`
    /// is not the encoding of either part.
    fn runtime_secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            let Ok(v) = value.to_str() else { continue };
            out.push(v.to_string());
            if name == AUTHORIZATION
                && let Some((_, credentials)) = v.split_once(' ')
            {
                out.push(credentials.trim().to_string());
            }
        }
        out
    }
}

/// An API key in a query parameter.
pub struct QueryKey {
    param: String,
    key: String,
}

impl std::fmt::Debug for QueryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueryKey({})", self.param)
    }
}

#[async_trait]
impl AuthStrategy for QueryKey {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        req.url_mut()
            .query_pairs_mut()
            .append_pair(&self.param, &self.key);
        Ok(())
    }
}

/// How an OAuth client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// HTTP Basic with client id and secret (RFC 6749 2.3.1, the default).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

#[derive(Clone)]
struct CachedToken {
    access_token: String,
    /// When to stop using it (expiry minus the safety margin).
    refresh_at: Option<Instant>,
}

/// OAuth 2.0 client credentials grant with a cached token.
pub struct ClientCredentials {
    /// The instance's client behind the egress check: the token URL is checked like an API
    /// URL (`tokenUrl: "http:127.0.0.1:1/t"` is loopback however it is spelled).
    http: crate::egress::EgressClient,
    token_url: String,
    client_id: String,
    client_secret: String,
    scope: Option<String>,
    audience: Option<String>,
    client_auth: ClientAuthentication,
    /// Refresh this long before the token expires.
    margin: Duration,
    /// Held while fetching, so concurrent callers wait for one fetch.
    cache: Mutex<Option<CachedToken>>,
    seen: std::sync::Mutex<Vec<String>>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl ClientCredentials {
    /// `base64(urlencode(id):urlencode(secret))`, RFC 6749 2.3.1.
    fn basic_credentials(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(&self.client_id),
            enc(&self.client_secret)
        ))
    }

    async fn fetch(&self) -> Result<CachedToken, ActionError> {
        let mut form: Vec<(&str, &str)> = vec![("grant_type", "client_credentials")];
        if let Some(s) = &self.scope {
            form.push(("scope", s));
        }
        if let Some(a) = &self.audience {
            form.push(("audience", a));
        }
        let url = url::Url::parse(&self.token_url)
            .map_err(|_| ActionError::user("invalid_config", "`tokenUrl` is not a valid URL"))?;
        let mut req = self.http.post(url).header(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        match self.client_auth {
            ClientAuthentication::Basic => {
                let creds = self.basic_credentials();
                req = req.header(
                    AUTHORIZATION,
                    header_value(&format!("Basic {creds}"), "client credentials")?,
                );
            }
            ClientAuthentication::Post => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", &self.client_secret));
            }
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| match e.refusal() {
                Some(refusal) => crate::egress::refused(refusal),
                None => ActionError::transient(
                    "token_request_failed",
                    format!("token request failed: {e}"),
                ),
            })?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| {
            ActionError::transient(
                "token_request_failed",
                format!(
                    "token response could not be read: {}",
                    crate::client::describe_reqwest(&e)
                ),
            )
        })?;
        let json: Value = serde_json::from_slice(&body).map_err(|_| {
            ActionError::auth(
                "invalid_token_response",
                format!("token endpoint answered HTTP {status} with a body that is not JSON"),
            )
            .with_status(status)
        })?;
        if !(200..300).contains(&status) {
            let err = json
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error");
            let class = if status >= 500 {
                connector_spec::ErrorClass::Transient
            } else {
                connector_spec::ErrorClass::Auth
            };
            return Err(ActionError::new(
                class,
                "token_request_failed",
                format!("token endpoint refused the client: {err}"),
            )
            .with_status(status));
        }
        let access_token = json
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ActionError::auth(
                    "invalid_token_response",
                    "token response has no `access_token`",
                )
                .with_status(status)
            })?
            .to_string();
        let expires_in = json
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        let refresh_at = expires_in.map(|secs| {
            let life = Duration::from_secs(secs);
            Instant::now() + life.saturating_sub(self.margin.min(life / 2))
        });
        self.seen
            .lock()
            .expect("not poisoned")
            .push(access_token.clone());
        Ok(CachedToken {
            access_token,
            refresh_at,
        })
    }

    async fn token(&self, force: bool, stale: Option<&str>) -> Result<String, ActionError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref() {
            let fresh = t.refresh_at.is_none_or(|at| Instant::now() < at);
            // A forced refresh reuses a token another caller fetched meanwhile.
            let replaced = stale.is_some_and(|s| s != t.access_token);
            if (fresh && !force) || replaced {
                return Ok(t.access_token.clone());
            }
        }
        let t = self.fetch().await?;
        let token = t.access_token.clone();
        *cache = Some(t);
        Ok(token)
    }
}

#[async_trait]
impl AuthStrategy for ClientCredentials {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        let token = self.token(false, None).await?;
        req.headers_mut().insert(
            AUTHORIZATION,
            header_value(&format!("Bearer {token}"), "access token")?,
        );
        Ok(())
    }

    async fn refresh(&self) -> Result<bool, ActionError> {
        let stale = self
            .cache
            .lock()
            .await
            .as_ref()
            .map(|t| t.access_token.clone());
        self.token(true, stale.as_deref()).await?;
        Ok(true)
    }

    fn runtime_secrets(&self) -> Vec<String> {
        let mut out = self.seen.lock().expect("not poisoned").clone();
        if self.client_auth == ClientAuthentication::Basic {
            out.push(self.basic_credentials());
        }
        out
    }
}

/// A clock for signing; tests fix it to check known-answer signatures.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// AWS Signature Version 4.
pub struct SigV4 {
    region: String,
    service: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    clock: Clock,
}

impl std::fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigV4({}/{})", self.region, self.service)
    }
}

impl SigV4 {
    /// Replace the clock (for known-answer tests).
    pub fn with_clock(mut self, clock: Clock) -> SigV4 {
        self.clock = clock;
        self
    }

    pub fn new(
        region: &str,
        service: &str,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<&str>,
    ) -> SigV4 {
        SigV4 {
            region: region.to_string(),
            service: service.to_string(),
            access_key_id: access_key_id.to_string(),
            secret_access_key: secret_access_key.to_string(),
            session_token: session_token.map(str::to_string),
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Sign a request in place.
    pub fn sign(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;
        let identity = aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "connector",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time((self.clock)())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| ActionError::system("signing_failed", format!("SigV4 parameters: {e}")))?
            .into();
        let body = req
            .body()
            .and_then(|b| b.as_bytes())
            .unwrap_or(&[])
            .to_vec();
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let url = req.url().to_string();
        let signable = SignableRequest::new(
            req.method().as_str(),
            &url,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| ActionError::system("signing_failed", format!("SigV4 request: {e}")))?;
        // aws-sigv4 traces the signing parameters, access key id included; silence it for
        // this synchronous call so no log level ever shows a credential.
        let signed =
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
                sign(signable, &params)
            });
        let (instructions, _sig) = signed
            .map_err(|e| ActionError::system("signing_failed", format!("SigV4 signing: {e}")))?
            .into_parts();
        for (name, value) in instructions.headers() {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ActionError::system("signing_failed", "SigV4 produced an invalid header name")
            })?;
            req.headers_mut()
                .insert(name, header_value(value, "SigV4 header")?);
        }
        Ok(())
    }
}

#[async_trait]
impl AuthStrategy for SigV4 {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        self.sign(req)
    }
}

/// Build the strategy for an auth type from the instance's auth config and secrets. mTLS
/// and webhook URLs act at the client and URL level, so their strategy adds nothing here.
pub fn build_strategy(
    auth: AuthTypeId,
    config: &Map<String, Value>,
    secrets: &Secrets,
    http: &crate::egress::EgressClient,
) -> Result<Arc<dyn AuthStrategy>, ActionError> {
    Ok(match auth {
        AuthTypeId::None | AuthTypeId::WebhookUrl | AuthTypeId::Mtls => Arc::new(NoAuth),
        AuthTypeId::Basic => {
            let user = required(secrets, "username", auth)?;
            let pass = required(secrets, "password", auth)?;
            let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            Arc::new(StaticHeaders {
                headers: vec![(
                    AUTHORIZATION,
                    header_value(&format!("Basic {creds}"), "basic credentials")?,
                )],
            })
        }
        AuthTypeId::Bearer => {
            let token = required(secrets, "token", auth)?;
            Arc::new(StaticHeaders {
                headers: vec![(
                    AUTHORIZATION,
                    header_value(&format!("Bearer {token}"), "token")?,
                )],
            })
        }
        AuthTypeId::ApiKeyHeader => {
            let name = config_str(config, "headerName").unwrap_or("X-API-Key");
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ActionError::user(
                    "invalid_config",
                    format!("`{name}` is not a valid header name"),
                )
            })?;
            let key = required(secrets, "apiKey", auth)?;
            Arc::new(StaticHeaders {
                headers: vec![(name, header_value(key, "API key")?)],
            })
        }
        AuthTypeId::ApiKeyQuery => Arc::new(QueryKey {
            param: config_str(config, "paramName")
                .unwrap_or("api_key")
                .to_string(),
            key: required(secrets, "apiKey", auth)?.to_string(),
        }),
        AuthTypeId::Headers => {
            let Some(Value::Object(map)) = secrets.get("headers") else {
                return Err(ActionError::user(
                    "missing_secret",
                    "auth type `headers` needs the secret `headers`",
                ));
            };
            let mut headers = Vec::new();
            for (k, v) in map {
                let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    ActionError::user(
                        "invalid_secrets",
                        format!("`{k}` is not a valid header name"),
                    )
                })?;
                let value = v.as_str().ok_or_else(|| {
                    ActionError::user("invalid_secrets", format!("header `{k}` must be a string"))
                })?;
                headers.push((name, header_value(value, &format!("header `{k}`"))?));
            }
            Arc::new(StaticHeaders { headers })
        }
        AuthTypeId::OauthClientCredentials => {
            let token_url = config_str(config, "tokenUrl")
                .ok_or_else(|| ActionError::user("invalid_config", "`tokenUrl` is required"))?;
            let client_id = config_str(config, "clientId")
                .ok_or_else(|| ActionError::user("invalid_config", "`clientId` is required"))?;
            let client_auth = match config_str(config, "clientAuthentication") {
                Some("client_secret_post") => ClientAuthentication::Post,
                _ => ClientAuthentication::Basic,
            };
            Arc::new(ClientCredentials {
                http: http.clone(),
                token_url: token_url.to_string(),
                client_id: client_id.to_string(),
                client_secret: required(secrets, "clientSecret", auth)?.to_string(),
                scope: config_str(config, "scope").map(str::to_string),
                audience: config_str(config, "audience").map(str::to_string),
                client_auth,
                margin: Duration::from_secs(30),
                cache: Mutex::new(None),
                seen: std::sync::Mutex::new(Vec::new()),
            })
        }
        AuthTypeId::AwsSigv4 => Arc::new(SigV4::new(
            config_str(config, "region")
                .ok_or_else(|| ActionError::user("invalid_config", "`region` is required"))?,
            config_str(config, "service")
                .ok_or_else(|| ActionError::user("invalid_config", "`service` is required"))?,
            required(secrets, "accessKeyId", auth)?,
            required(secrets, "secretAccessKey", auth)?,
            secrets.get_str("sessionToken"),
        )),
        AuthTypeId::OauthAuthorizationCode | AuthTypeId::Ears => {
            Arc::new(Refuse(ActionError::auth(
                "no_user_auth",
                format!(
                    "auth type `{auth}` acts per user and this instance has no per-user token \
                     source (see InstanceRuntime::with_user_auth)"
                ),
            )))
        }
    })
}

/// Supplies the credentials of per-user auth types (oauth_authorization_code, ears): one
/// strategy per calling user. The token store and OAuth flows implement it.
pub trait UserAuthProvider: Send + Sync + std::fmt::Debug {
    /// The strategy that acts as `user_id` (never empty) on this instance.
    fn for_user(&self, user_id: &str) -> Result<Arc<dyn AuthStrategy>, ActionError>;
}

/// A strategy that refuses every request with a fixed error: a per-user instance called
/// without a user, or one whose user strategy could not be built.
#[derive(Debug)]
pub struct Refuse(pub ActionError);

#[async_trait]
impl AuthStrategy for Refuse {
    async fn apply(&self, _req: &mut reqwest::Request) -> Result<(), ActionError> {
        Err(self.0.clone())
    }
}
