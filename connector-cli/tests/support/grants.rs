//! What every loopback vendor of the per-user server tests remembers about its grants: the
//! authorization codes it handed out (each bound to the account that logged in, the request's
//! `redirect_uri` and PKCE challenge), the access tokens it issued and whom they belong to, and
//! the requests its API received. The account logging in is whoever the browser says it is
//! (`x-account`). Everything issued starts with [`super::provider::CANARY`].

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::provider::{CANARY, redirect_with_code};

/// One API request a vendor answered: the account whose token it carried, the path and the
/// query pairs in wire order (repeated names stay repeated).
#[derive(Clone, Debug)]
pub struct Call {
    pub account: String,
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl Call {
    /// The query as `(&str, &str)` pairs, for comparing with a literal.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

struct Pending {
    account: String,
    redirect_uri: String,
    challenge: Option<String>,
}

#[derive(Default)]
pub struct Grants {
    codes: HashMap<String, Pending>,
    /// access token -> account
    tokens: HashMap<String, String>,
    /// Every API request answered, in order.
    pub calls: Vec<Call>,
    seq: u64,
}

/// The account logged in at the vendor's login page (`x-account`).
pub fn logged_in(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-account")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Whether query parameter `name` is exactly `value`.
pub fn param_is(q: &HashMap<String, String>, name: &str, value: &str) -> bool {
    q.get(name).map(String::as_str) == Some(value)
}

/// A header's value as text.
pub fn header_of<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The query pairs of a raw query string, in order.
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// The S256 PKCE challenge of a verifier (RFC 7636 4.2).
fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

impl Grants {
    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// The redirect back to the client with a fresh code for `account`, bound to the request's
    /// `redirect_uri` and S256 challenge (a request with another method is refused).
    pub fn code_redirect(
        &mut self,
        vendor: &str,
        account: &str,
        q: &HashMap<String, String>,
    ) -> Response {
        let challenge = q.get("code_challenge").cloned();
        if q.get("redirect_uri").is_none()
            || q.get("state").is_none()
            || (challenge.is_some() && !param_is(q, "code_challenge_method", "S256"))
        {
            return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
        }
        let code = format!("{CANARY}{vendor}-code-{account}-{}", self.next());
        let pending = Pending {
            account: account.to_string(),
            redirect_uri: q["redirect_uri"].clone(),
            challenge,
        };
        self.codes.insert(code.clone(), pending);
        redirect_with_code(q, &code)
    }

    /// The account of an authorization-code grant: the code exists (and is used up), the
    /// `redirect_uri` is the authorization request's and the `code_verifier` is the one of its
    /// challenge.
    pub fn redeem(&mut self, grant: &HashMap<String, String>) -> Option<String> {
        if !param_is(grant, "grant_type", "authorization_code") {
            return None;
        }
        let pending = self.codes.remove(grant.get("code")?)?;
        let verified = match (&pending.challenge, grant.get("code_verifier")) {
            (None, None) => true,
            (Some(c), Some(v)) => *c == s256(v),
            _ => false,
        };
        (verified && grant.get("redirect_uri") == Some(&pending.redirect_uri))
            .then_some(pending.account)
    }

    /// A new access token for `account` (`{CANARY}{prefix}{account}-{n}`).
    pub fn access_token(&mut self, prefix: &str, account: &str) -> String {
        let token = format!("{CANARY}{prefix}{account}-{}", self.next());
        self.tokens.insert(token.clone(), account.to_string());
        token
    }

    /// A new refresh token for `account` (never redeemed here: Google's access tokens last
    /// an hour, longer than a test).
    pub fn refresh_token(&mut self, prefix: &str, account: &str) -> String {
        format!("{CANARY}{prefix}{account}-{}", self.next())
    }

    /// The account whose token the request carries (`Authorization: Bearer ...`).
    pub fn bearer(&self, headers: &HeaderMap) -> Option<String> {
        let token = header_of(headers, header::AUTHORIZATION.as_str())?.strip_prefix("Bearer ")?;
        self.tokens.get(token).cloned()
    }

    /// Record an API request as `account`'s.
    pub fn record(&mut self, account: &str, path: &str, query: Vec<(String, String)>) {
        self.calls.push(Call {
            account: account.to_string(),
            path: path.to_string(),
            query,
        });
    }
}

/// `client_secret_post`: the client id and secret are form fields, and no `Authorization`.
pub fn client_in_form(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    id: &str,
    secret: &str,
) -> bool {
    headers.get(header::AUTHORIZATION).is_none()
        && param_is(form, "client_id", id)
        && param_is(form, "client_secret", secret)
}

/// `client_secret_basic`: HTTP Basic with the client id and secret, and no secret in the form.
pub fn client_basic(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    id: &str,
    secret: &str,
) -> bool {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    header_of(headers, header::AUTHORIZATION.as_str()) == Some(format!("Basic {basic}").as_str())
        && !form.contains_key("client_secret")
}

/// Serve `app` on a free loopback port; its address.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}
