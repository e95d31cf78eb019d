//! The one OAuth token client: the `client_credentials`, `authorization_code`,
//! `refresh_token` and JWT bearer (RFC 7523 2.1) grants, client authentication
//! (`client_secret_basic` / `client_secret_post` / `private_key_jwt`), and parsing of token
//! responses (JSON or form-encoded, at most [`MAX_TOKEN_RESPONSE`] bytes) with configurable
//! paths (Slack puts user tokens under `authed_user`). EARS sends its JSON requests through
//! the same `send`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;

use super::jwt::{SigningKey, jti, unix_seconds};
use crate::egress::{EgressClient, OutboundRequest};
use crate::error::ActionError;
use secrecy::{ExposeSecret, SecretString};

/// Largest token response read; a provider sending more is broken or hostile.
pub const MAX_TOKEN_RESPONSE: usize = 256 * 1024;

/// How an OAuth client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// HTTP Basic with client id and secret (RFC 6749 2.3.1, the default).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
    /// `client_id` and a `client_assertion` JWT signed with the client's private key
    /// (RFC 7523 2.2, OpenID Connect `private_key_jwt`), no secret. The endpoint's
    /// [`TokenEndpoint::signing_key`] signs it.
    PrivateKeyJwt,
}

/// RFC 7523's `client_assertion_type` for a JWT.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// RFC 7523's `grant_type` of the JWT bearer grant.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Lifetime of a `client_assertion`: short, it is used once (Entra ID: 5-10 minutes at most).
pub const CLIENT_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

impl ClientAuthentication {
    /// The `clientAuthentication` config value; absent is `client_secret_basic`.
    pub fn parse(value: Option<&str>) -> Result<ClientAuthentication, ActionError> {
        match value {
            None | Some("client_secret_basic") => Ok(ClientAuthentication::Basic),
            Some("client_secret_post") => Ok(ClientAuthentication::Post),
            Some("private_key_jwt") => Ok(ClientAuthentication::PrivateKeyJwt),
            Some(other) => Err(ActionError::user(
                "invalid_config",
                format!(
                    "`clientAuthentication` `{other}` is not one of: \
                     client_secret_basic, client_secret_post, private_key_jwt"
                ),
            )),
        }
    }
}

/// Tokens from a token endpoint.
#[derive(Clone)]
pub struct TokenSet {
    pub access_token: SecretString,
    /// Absent when the provider does not rotate (or never issues) refresh tokens.
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the access token, when the provider says.
    pub expires_in: Option<Duration>,
    /// Lifetime of the refresh token, when the provider says.
    pub refresh_token_expires_in: Option<Duration>,
    pub token_type: Option<String>,
    pub scope: Option<String>,
    /// The whole reply (tokens included: never logged, left out of `Debug`), for the
    /// account values a spec reads from it (`auth.account.fromTokenResponse`).
    #[cfg_attr(not(feature = "store"), allow(dead_code))]
    pub(crate) reply: Value,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &self.access_token)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("expires_in", &self.expires_in)
            .field("refresh_token_expires_in", &self.refresh_token_expires_in)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Where the tokens sit in a token response: `$.access_token` by default,
/// `$.authed_user.access_token` for Slack user tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPaths {
    access: Vec<String>,
    refresh: Vec<String>,
}

impl Default for TokenPaths {
    fn default() -> TokenPaths {
        TokenPaths {
            access: vec!["access_token".into()],
            refresh: vec!["refresh_token".into()],
        }
    }
}

impl TokenPaths {
    /// Parse `accessTokenPath` / `refreshTokenPath` (`$.a.b` or `a.b`: object keys only).
    pub fn parse(access: &str, refresh: &str) -> Result<TokenPaths, ActionError> {
        Ok(TokenPaths {
            access: parse_path(access, "accessTokenPath")?,
            refresh: parse_path(refresh, "refreshTokenPath")?,
        })
    }
}

fn parse_path(path: &str, field: &str) -> Result<Vec<String>, ActionError> {
    let rest = path.strip_prefix("$.").unwrap_or(path);
    let segments: Vec<String> = rest.split('.').map(str::to_string).collect();
    let bad = segments.iter().any(|s| {
        s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if bad {
        return Err(ActionError::user(
            "invalid_config",
            format!(
                "`{field}` `{path}` is not a token path: use `$.name` or `$.outer.name` \
                 (object keys of letters, digits, `_` and `-`)"
            ),
        ));
    }
    Ok(segments)
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// Why a token request failed. Messages never contain a token or the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenEndpointError {
    /// The provider answered with an OAuth error (`error`, optional `error_description`).
    #[error("the provider answered `{error}`{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// A non-success status without an OAuth error body.
    #[error("the token endpoint answered HTTP {status}")]
    Status { status: u16 },
    /// A success status with a body that is not a usable token response.
    #[error("the token response is malformed: {reason}")]
    Malformed { status: u16, reason: String },
    /// The request did not complete.
    #[error("the token request failed: {0}")]
    Transport(String),
    /// The egress policy refused the endpoint's address; nothing was sent.
    #[error("the request was refused by the egress policy: {0}")]
    Refused(String),
    /// The JWT the request carries could not be made (no signing key); nothing was sent.
    #[error("the token request's JWT could not be signed: {0}")]
    Assertion(String),
}

impl TokenEndpointError {
    /// A request that did not complete: [`TokenEndpointError::Refused`] when the egress
    /// policy stopped it, else [`TokenEndpointError::Transport`].
    pub(crate) fn from_outbound(e: &crate::egress::OutboundError) -> TokenEndpointError {
        match e.refusal() {
            Some(r) => TokenEndpointError::Refused(r.0.clone()),
            None => TokenEndpointError::Transport(e.to_string()),
        }
    }

    /// A reply whose body broke off.
    fn from_body(e: &reqwest::Error) -> TokenEndpointError {
        TokenEndpointError::Transport(crate::http::describe_reqwest(e))
    }
}

impl TokenEndpointError {
    /// The provider's OAuth error code, if it sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            TokenEndpointError::Provider { error, .. } => Some(error),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            TokenEndpointError::Provider { status, .. }
            | TokenEndpointError::Status { status }
            | TokenEndpointError::Malformed { status, .. } => Some(*status),
            TokenEndpointError::Transport(_)
            | TokenEndpointError::Refused(_)
            | TokenEndpointError::Assertion(_) => None,
        }
    }

    /// Failures worth trying again later (server errors, network) rather than user errors.
    pub fn is_transient(&self) -> bool {
        match self {
            TokenEndpointError::Transport(_) => true,
            TokenEndpointError::Status { status } => *status >= 500 || *status == 429,
            TokenEndpointError::Provider { error, status, .. } => {
                *status >= 500 || error == "temporarily_unavailable"
            }
            TokenEndpointError::Malformed { .. }
            | TokenEndpointError::Refused(_)
            | TokenEndpointError::Assertion(_) => false,
        }
    }
}

/// A provider's token endpoint with the client's credentials.
#[derive(Clone)]
pub struct TokenEndpoint {
    pub url: reqwest::Url,
    pub client_id: String,
    pub client_secret: SecretString,
    pub client_auth: ClientAuthentication,
    pub paths: TokenPaths,
    /// The key that signs `private_key_jwt` client assertions (and nothing else here).
    pub signing_key: Option<Arc<SigningKey>>,
    /// How the grant's parameters are sent (`tokenRequestFormat`).
    pub body_format: TokenBodyFormat,
}

/// How a token request carries its parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenBodyFormat {
    /// `application/x-www-form-urlencoded`, as RFC 6749 specifies.
    #[default]
    Form,
    /// One JSON object of string members (Notion's token endpoint).
    Json,
}

impl TokenBodyFormat {
    /// `tokenRequestFormat`: `form` (the default) or `json`.
    pub fn parse(value: Option<&str>) -> Result<TokenBodyFormat, ActionError> {
        match value {
            None | Some("form") => Ok(TokenBodyFormat::Form),
            Some("json") => Ok(TokenBodyFormat::Json),
            Some(other) => Err(ActionError::user(
                "invalid_config",
                format!("`tokenRequestFormat` is `form` or `json`, not `{other}`"),
            )),
        }
    }
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url.as_str())
            .field("client_id", &self.client_id)
            .field("client_auth", &self.client_auth)
            .field("paths", &self.paths)
            .field("signing_key", &self.signing_key)
            .field("body_format", &self.body_format)
            .finish_non_exhaustive()
    }
}

impl TokenEndpoint {
    /// `base64(urlencode(id):urlencode(secret))`, RFC 6749 2.3.1.
    pub fn basic_credentials(&self) -> String {
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(&self.client_id),
            enc(self.client_secret.expose_secret())
        ))
    }

    /// Exchange an authorization code (RFC 6749 4.1.3 with RFC 7636's `code_verifier`).
    pub async fn exchange_code(
        &self,
        http: &EgressClient,
        code: &str,
        redirect_uri: &str,
        verifier: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        self.grant(
            http,
            vec![
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier.expose_secret()),
            ],
            &mut Vec::new(),
        )
        .await
    }

    /// Use a refresh token (RFC 6749 6).
    pub async fn refresh(
        &self,
        http: &EgressClient,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, TokenEndpointError> {
        self.grant(
            http,
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose_secret()),
            ],
            &mut Vec::new(),
        )
        .await
    }

    /// The client credentials grant (RFC 6749 4.4), with the optional `scope` and the
    /// `audience` some providers (Auth0) require.
    pub async fn client_credentials(
        &self,
        http: &EgressClient,
        scope: Option<&str>,
        audience: Option<&str>,
    ) -> Result<TokenSet, TokenEndpointError> {
        self.client_credentials_issuing(http, scope, audience, &mut Vec::new())
            .await
    }

    /// [`TokenEndpoint::client_credentials`], handing a `private_key_jwt` client assertion
    /// to `issued` before it is sent (for the redactor: it is a credential until it expires).
    pub async fn client_credentials_issuing(
        &self,
        http: &EgressClient,
        scope: Option<&str>,
        audience: Option<&str>,
        issued: &mut Vec<String>,
    ) -> Result<TokenSet, TokenEndpointError> {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        if let Some(a) = audience {
            form.push(("audience", a));
        }
        self.grant(http, form, issued).await
    }

    /// The JWT bearer grant (RFC 7523 2.1): `assertion` is the signed JWT, with the optional
    /// `scope`. The client authenticates as configured (ServiceNow: `client_secret_post`);
    /// a client assertion it makes goes to `issued`.
    pub async fn jwt_bearer(
        &self,
        http: &EgressClient,
        assertion: &str,
        scope: Option<&str>,
        issued: &mut Vec<String>,
    ) -> Result<TokenSet, TokenEndpointError> {
        let mut form = vec![("grant_type", JWT_BEARER_GRANT), ("assertion", assertion)];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        self.grant(http, form, issued).await
    }

    /// A `private_key_jwt` client assertion (RFC 7523 2.2 and 3): `iss` = `sub` = the client
    /// id, `aud` = the token URL, a fresh `jti`, valid from now for
    /// [`CLIENT_ASSERTION_LIFETIME`].
    pub fn client_assertion(&self, now: SystemTime) -> Result<String, TokenEndpointError> {
        let key = self.signing_key.as_ref().ok_or_else(|| {
            TokenEndpointError::Assertion("`private_key_jwt` needs a private key".into())
        })?;
        let iat = unix_seconds(now);
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.url.as_str(),
            "jti": jti(),
            "iat": iat,
            "nbf": iat,
            "exp": iat + CLIENT_ASSERTION_LIFETIME.as_secs(),
        });
        key.sign(&claims)
            .map_err(|e| TokenEndpointError::Assertion(e.message))
    }

    async fn grant(
        &self,
        http: &EgressClient,
        mut form: Vec<(&str, &str)>,
        issued: &mut Vec<String>,
    ) -> Result<TokenSet, TokenEndpointError> {
        let assertion;
        let mut req = http
            .post(self.url.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        match self.client_auth {
            ClientAuthentication::Basic => {
                let mut v = HeaderValue::from_str(&format!("Basic {}", self.basic_credentials()))
                    .map_err(|_| {
                    TokenEndpointError::Transport(
                        "the client credentials cannot be sent in a header".into(),
                    )
                })?;
                v.set_sensitive(true);
                req = req.header(AUTHORIZATION, v);
            }
            ClientAuthentication::Post => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", self.client_secret.expose_secret()));
            }
            ClientAuthentication::PrivateKeyJwt => {
                assertion = self.client_assertion(SystemTime::now())?;
                issued.push(assertion.clone());
                form.push(("client_id", &self.client_id));
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE));
                form.push(("client_assertion", &assertion));
            }
        }
        let req = match self.body_format {
            TokenBodyFormat::Form => req.form(&form),
            TokenBodyFormat::Json => {
                let body: serde_json::Map<String, Value> = form
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
                    .collect();
                req.json(&body)
            }
        };
        send(req, &self.paths).await
    }
}

/// Send a token request and parse the reply.
pub(crate) async fn send(
    req: OutboundRequest,
    paths: &TokenPaths,
) -> Result<TokenSet, TokenEndpointError> {
    let mut resp = req
        .send()
        .await
        .map_err(|e| TokenEndpointError::from_outbound(&e))?;
    let status = resp.status().as_u16();
    let form_encoded = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| TokenEndpointError::from_body(&e))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
            return Err(TokenEndpointError::Malformed {
                status,
                reason: format!("the body is larger than {MAX_TOKEN_RESPONSE} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    parse_response(status, form_encoded, &body, paths)
}

/// Parse a token endpoint reply: an OAuth error wherever it appears (Slack answers
/// `{"ok": false, "error": ...}` with HTTP 200), else the tokens at the configured paths.
pub fn parse_response(
    status: u16,
    form_encoded: bool,
    body: &[u8],
    paths: &TokenPaths,
) -> Result<TokenSet, TokenEndpointError> {
    let json = reply_object(status, form_encoded, body)?;
    let malformed = |reason: String| TokenEndpointError::Malformed { status, reason };
    let access_token = access_token(&json, &paths.access).map_err(malformed)?;
    let refresh_token = refresh_token(&json, &paths.refresh).map_err(malformed)?;
    // Lifetimes sit beside the access token (Slack: `authed_user.expires_in`), else at the top.
    let parent = lookup(&json, &paths.access[..paths.access.len() - 1]).unwrap_or(&json);
    let seconds = |key: &str| -> Result<Option<Duration>, TokenEndpointError> {
        let v = parent.get(key).or_else(|| json.get(key));
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str()?.trim().parse().ok())
                .map(|s| Some(Duration::from_secs(s)))
                .ok_or_else(|| malformed(format!("`{key}` is not a number of seconds"))),
        }
    };
    let text = |key: &str| {
        parent
            .get(key)
            .or_else(|| json.get(key))
            .and_then(Value::as_str)
            .map(|s| printable(s, 2048))
    };
    Ok(TokenSet {
        access_token: SecretString::from(access_token),
        refresh_token,
        expires_in: seconds("expires_in")?,
        refresh_token_expires_in: seconds("refresh_token_expires_in")?,
        token_type: text("token_type"),
        scope: text("scope"),
        reply: json,
    })
}

/// The reply as a JSON object (a form-encoded one read as an object of strings), once it is
/// known to be a success: an OAuth `error` or a failing status is the matching error.
fn reply_object(status: u16, form_encoded: bool, body: &[u8]) -> Result<Value, TokenEndpointError> {
    let json: Option<Value> = if form_encoded {
        let map: serde_json::Map<String, Value> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Some(Value::Object(map))
    } else {
        serde_json::from_slice(body).ok()
    };
    let success = (200..300).contains(&status);
    let Some(json) = json.filter(Value::is_object) else {
        return Err(if success {
            TokenEndpointError::Malformed {
                status,
                reason: "the body is not a JSON object".into(),
            }
        } else {
            TokenEndpointError::Status { status }
        });
    };
    if let Some(error) = json
        .get("error")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
    {
        return Err(TokenEndpointError::Provider {
            status,
            error: printable(error, 64),
            description: json
                .get("error_description")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(|d| printable(d, 300)),
        });
    }
    if !success {
        return Err(TokenEndpointError::Status { status });
    }
    Ok(json)
}

/// The access token at `path`: a non-empty string that can be sent in a header. The error is
/// the reason the reply is malformed.
fn access_token(json: &Value, path: &[String]) -> Result<String, String> {
    let token = match lookup(json, path) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(format!("`$.{}` is empty", path.join("."))),
        Some(_) => return Err(format!("`$.{}` is not a string", path.join("."))),
        None => return Err(format!("it has no `$.{}`", path.join("."))),
    };
    if !token.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err("the access token contains characters that cannot be sent in a header".into());
    }
    Ok(token)
}

/// The refresh token at `path`, if the reply has one (absent, null and empty are none).
fn refresh_token(json: &Value, path: &[String]) -> Result<Option<SecretString>, String> {
    match lookup(json, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(SecretString::from(s.clone()))),
        Some(_) => Err(format!("`$.{}` is not a string", path.join("."))),
    }
}

/// Provider text made safe to show: control characters dropped, length capped.
fn printable(s: &str, max: usize) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(status: u16, body: Value, paths: &TokenPaths) -> Result<TokenSet, TokenEndpointError> {
        parse_response(status, false, body.to_string().as_bytes(), paths)
    }

    #[test]
    fn standard_response() {
        let t = parse(
            200,
            json!({"access_token": "at-1", "refresh_token": "rt-1", "expires_in": 3600, "token_type": "Bearer"}),
            &TokenPaths::default(),
        )
        .unwrap();
        assert_eq!(t.access_token.expose_secret(), "at-1");
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "rt-1");
        assert_eq!(t.expires_in, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn slack_user_token_paths() {
        let paths =
            TokenPaths::parse("$.authed_user.access_token", "$.authed_user.refresh_token").unwrap();
        let t = parse(
            200,
            json!({"ok": true, "access_token": "xoxb-bot", "expires_in": 99,
                   "authed_user": {"access_token": "xoxp-user", "refresh_token": "xoxe-r", "expires_in": 43200}}),
            &paths,
        )
        .unwrap();
        assert_eq!(t.access_token.expose_secret(), "xoxp-user");
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "xoxe-r");
        assert_eq!(t.expires_in, Some(Duration::from_secs(43200)));
    }

    #[test]
    fn errors_are_typed() {
        let p = TokenPaths::default();
        let e = parse(
            400,
            json!({"error": "invalid_grant", "error_description": "bad\ncode"}),
            &p,
        )
        .unwrap_err();
        assert_eq!(e.oauth_error(), Some("invalid_grant"));
        assert_eq!(
            e.to_string(),
            "the provider answered `invalid_grant`: badcode"
        );
        // Slack style: 200 with ok=false.
        let e = parse(200, json!({"ok": false, "error": "invalid_code"}), &p).unwrap_err();
        assert_eq!(e.oauth_error(), Some("invalid_code"));
        assert!(matches!(
            parse(200, json!({"token": "x"}), &p).unwrap_err(),
            TokenEndpointError::Malformed { .. }
        ));
        assert!(matches!(
            parse(200, json!({"access_token": 5}), &p).unwrap_err(),
            TokenEndpointError::Malformed { .. }
        ));
        assert!(matches!(
            parse(200, json!({"access_token": "a", "expires_in": "soon"}), &p).unwrap_err(),
            TokenEndpointError::Malformed { .. }
        ));
        assert!(matches!(
            parse_response(200, false, b"<html>", &p).unwrap_err(),
            TokenEndpointError::Malformed { .. }
        ));
        assert_eq!(
            parse_response(502, false, b"<html>", &p).unwrap_err(),
            TokenEndpointError::Status { status: 502 }
        );
    }

    #[test]
    fn form_encoded_responses_are_read() {
        let t = parse_response(
            200,
            true,
            b"access_token=at%2B1&scope=repo&token_type=bearer",
            &TokenPaths::default(),
        )
        .unwrap();
        assert_eq!(t.access_token.expose_secret(), "at+1");
        assert!(t.refresh_token.is_none());
    }

    #[test]
    fn bad_paths_are_config_errors() {
        for p in ["$.", "$.a..b", "a b", "$.a[0]"] {
            let e = TokenPaths::parse(p, "$.refresh_token").unwrap_err();
            assert_eq!(e.code, "invalid_config", "{p}");
        }
    }

    #[test]
    fn debug_hides_tokens() {
        let t = parse(
            200,
            json!({"access_token": "canary-at", "refresh_token": "canary-rt"}),
            &TokenPaths::default(),
        )
        .unwrap();
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("canary"), "{dbg}");
    }
}
