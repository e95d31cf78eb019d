//! `ctx.http()`: requests from `handler: code` actions through the instance's client, so the
//! instance's auth (and the spec's `auth.headers`), the spec's retry, rate limit, timeouts,
//! egress check and error classification apply to them exactly as to declarative actions.

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{HttpClient, SendOptions};
use crate::compiled::Secret;
use crate::context::ActionContext;
use crate::error::ActionError;

impl ActionContext {
    /// Requests through this call's client: paths resolve against the instance's base URL,
    /// and the instance's auth and the spec's policies apply as to declarative requests.
    ///
    /// ```no_run
    /// # use connector_runtime::{ActionContext, ActionError};
    /// # async fn handler(ctx: &ActionContext) -> Result<(), ActionError> {
    /// #[derive(serde::Deserialize)]
    /// struct Created {
    ///     id: String,
    /// }
    /// let created: Created = ctx
    ///     .http()
    ///     .post("/issues")
    ///     .json(&serde_json::json!({ "title": "Disk full" }))
    ///     .send_json()
    ///     .await?;
    /// # let _ = created.id;
    /// # Ok(())
    /// # }
    /// ```
    pub fn http(&self) -> Http<'_> {
        Http { ctx: self }
    }
}

/// The request helper of one action call; see [`ActionContext::http`].
#[derive(Clone, Copy, Debug)]
pub struct Http<'c> {
    ctx: &'c ActionContext,
}

impl<'c> Http<'c> {
    /// A GET of `path` (relative to the base URL).
    pub fn get(self, path: &str) -> HttpRequest<'c> {
        self.request(Method::GET, path)
    }

    /// A POST to `path`.
    pub fn post(self, path: &str) -> HttpRequest<'c> {
        self.request(Method::POST, path)
    }

    /// A PUT to `path`.
    pub fn put(self, path: &str) -> HttpRequest<'c> {
        self.request(Method::PUT, path)
    }

    /// A PATCH of `path`.
    pub fn patch(self, path: &str) -> HttpRequest<'c> {
        self.request(Method::PATCH, path)
    }

    /// A DELETE of `path`.
    pub fn delete(self, path: &str) -> HttpRequest<'c> {
        self.request(Method::DELETE, path)
    }

    /// A request with any method to `path`, relative to the base URL.
    pub fn request(self, method: Method, path: &str) -> HttpRequest<'c> {
        HttpRequest::new(self.ctx, method, self.url(path))
    }

    /// A request to an absolute URL, for connectors whose target is configured whole (a
    /// webhook URL in config or secrets) rather than under a base URL.
    pub fn request_url(self, method: Method, url: Url) -> HttpRequest<'c> {
        HttpRequest::new(self.ctx, method, checked_scheme(url))
    }

    /// `path` resolved against the instance's base URL: the spec's `baseUrl` rendered with
    /// the instance's config and secrets, then `path` appended after one `/` (so a base URL
    /// with a path prefix keeps it). An empty `path` is the base URL itself.
    pub fn url(self, path: &str) -> Result<Url, ActionError> {
        let base = self.ctx.instance.base.base_url()?.ok_or_else(|| {
            ActionError::user(
                "invalid_config",
                format!(
                    "{} has no baseUrl to resolve `{path}` against; pass an absolute URL to \
                     `request_url`",
                    self.ctx.instance.spec.id
                ),
            )
        })?;
        let text = match path {
            "" => base.to_string(),
            _ => format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            ),
        };
        let url = Url::parse(text.trim()).map_err(|e| {
            self.ctx.client.scrub(ActionError::user(
                "invalid_url",
                format!("the base URL with `{path}` is not a valid URL: {e}"),
            ))
        })?;
        checked_scheme(url)
    }
}

fn checked_scheme(url: Url) -> Result<Url, ActionError> {
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(ActionError::user(
            "invalid_url",
            format!("unsupported URL scheme `{other}`"),
        )),
    }
}

/// One request being built. Mistakes while building (a header value not allowed in HTTP, a
/// body that does not serialize) are kept and returned by `send`, so the chain stays flat.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct HttpRequest<'c> {
    ctx: &'c ActionContext,
    method: Method,
    url: Result<Url, ActionError>,
    headers: HeaderMap,
    body: Option<Bytes>,
}

impl<'c> HttpRequest<'c> {
    fn new(ctx: &'c ActionContext, method: Method, url: Result<Url, ActionError>) -> Self {
        HttpRequest {
            ctx,
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    fn fail(mut self, e: ActionError) -> Self {
        if self.url.is_ok() {
            self.url = Err(e);
        }
        self
    }

    /// Append a query parameter (percent-encoded).
    pub fn query(mut self, name: &str, value: &str) -> Self {
        if let Ok(url) = &mut self.url {
            url.query_pairs_mut().append_pair(name, value);
        }
        self
    }

    /// Set a header; a later call with the same name replaces it.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.header_value(name, HeaderValue::from_str(value), false)
    }

    /// Set a header whose value is a secret: it is marked sensitive, so it stays out of the
    /// HTTP stack's debug output, and is never part of an error.
    pub fn secret_header(self, name: &str, value: &Secret) -> Self {
        self.header_value(name, HeaderValue::from_str(value.expose()), true)
    }

    /// `Authorization: Bearer <token>`, for tokens the handler obtained itself (a session
    /// token); the instance's own auth is applied without this.
    pub fn bearer(self, token: &Secret) -> Self {
        let value = HeaderValue::from_str(&format!("Bearer {}", token.expose()));
        self.header_value(AUTHORIZATION.as_str(), value, true)
    }

    fn header_value(
        mut self,
        name: &str,
        value: Result<HeaderValue, reqwest::header::InvalidHeaderValue>,
        sensitive: bool,
    ) -> Self {
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            return self.fail(ActionError::user(
                "invalid_header",
                format!("`{name}` is not a valid header name"),
            ));
        };
        match value {
            Ok(mut v) => {
                v.set_sensitive(sensitive);
                self.headers.insert(header, v);
                self
            }
            Err(_) => self.fail(ActionError::user(
                "invalid_header",
                format!("the value of header `{name}` is not allowed in HTTP"),
            )),
        }
    }

    /// A JSON body; `Content-Type: application/json` unless a content type is set.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => {
                self.body = Some(Bytes::from(bytes));
                if !self.headers.contains_key(CONTENT_TYPE) {
                    self.headers
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                self
            }
            Err(e) => self.fail(ActionError::system(
                "invalid_request",
                format!("the request body does not serialize to JSON: {e}"),
            )),
        }
    }

    /// A body sent as is (set its content type with [`HttpRequest::header`]).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Send with every policy applied and read the body (within the client's limits). A
    /// non-2xx reply is an error classified like a declarative action's.
    pub async fn send(self) -> Result<HttpReply<'c>, ActionError> {
        let client = &self.ctx.client;
        let url = self.url?;
        let path = url.path().to_string();
        // The spec's `auth.headers` are added by the client's stack (`http::AuthHeaders`).
        let mut builder = client
            .request(self.method.clone(), url)
            .headers(self.headers);
        if let Some(body) = self.body {
            builder = builder.body(body);
        }
        let req = builder.build().map_err(|_| {
            ActionError::system(
                "invalid_request",
                format!("cannot build the {} request to `{path}`", self.method),
            )
        })?;
        let resp = client.send(req, SendOptions::default()).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = client.read_body(resp).await?;
        if !(200..300).contains(&status) {
            return Err(client.error_for(status, &body));
        }
        Ok(HttpReply {
            client,
            what: format!("{} {path}", self.method),
            status,
            headers,
            body,
        })
    }

    /// [`HttpRequest::send`], then decode the body as `T` (see [`HttpReply::json`]).
    pub async fn send_json<T: DeserializeOwned>(self) -> Result<T, ActionError> {
        self.send().await?.json()
    }
}

/// A 2xx reply, its body read whole.
#[derive(Debug)]
pub struct HttpReply<'c> {
    client: &'c HttpClient,
    /// `METHOD /path`, for error messages (never the query, which may hold a secret).
    what: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpReply<'_> {
    /// The body decoded as `T`. An empty body decodes as JSON `null` (so `Option<T>`, `()` and
    /// `serde_json::Value` accept it); a body that is not `T` is the typed error
    /// `invalid_response` (class `system`).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ActionError> {
        let decoded = if self.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::from_value(serde_json::Value::Null)
        } else {
            serde_json::from_slice(&self.body)
        };
        decoded.map_err(|e| {
            self.client.scrub(ActionError::system(
                "invalid_response",
                format!("the reply to {} is not the expected JSON: {e}", self.what),
            ))
        })
    }
}
