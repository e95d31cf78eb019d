//! Request building: a spec `request` and the call's template context become a
//! `reqwest::Request` (URL, query, headers, body).

use connector_spec::{Body, HttpMethod, Request};
use futures::StreamExt;
use serde_json::{Value, json};

use super::DeclarativeExecutor;
use crate::context::ActionContext;
use crate::error::ActionError;

/// The template context for a call.
pub fn template_context(
    ctx: &ActionContext,
    input: &Value,
    response: Option<&Value>,
) -> minijinja::Value {
    // `config` and `secrets` were made template values once, with the instance; the input
    // is converted straight into one (no intermediate JSON copy).
    use minijinja::Value as V;
    let mut parts: Vec<(&str, V)> = vec![
        ("config", ctx.instance.scope.config.clone()),
        ("secrets", ctx.instance.scope.secrets.clone()),
        ("input", V::from_serialize(input)),
    ];
    if let Some(r) = response {
        parts.push(("response", V::from_serialize(r)));
    }
    if let Some(a) = ctx.account_value() {
        parts.push(("account", a.clone()));
    }
    if let Some(s) = &ctx.session {
        parts.push((
            "session",
            V::from_serialize(json!({ "name": s.name, "id": s.id, "data": s.data })),
        ));
    }
    parts.into_iter().collect()
}

impl DeclarativeExecutor {
    /// Build the HTTP request for a spec request.
    pub fn build_request(
        &self,
        ctx: &ActionContext,
        req: &Request,
        tctx: &minijinja::Value,
    ) -> Result<reqwest::Request, ActionError> {
        let url = self.request_url(ctx, req, tctx)?;
        // The spec's `auth.headers` are added by the client's stack (`http::AuthHeaders`).
        let mut b = ctx.client.request(method(req.method), url);
        for (k, template) in &req.headers {
            let rendered = self.renderer.render_str(template, tctx)?;
            // A header that renders empty (an optional field left unset) is left out, as an
            // empty query parameter is.
            if rendered.is_empty() {
                continue;
            }
            let (name, value) = crate::request_base::header(k, template, &rendered)?;
            b = b.header(name, value);
        }
        b = self.with_body(b, req, tctx)?;
        b.build().map_err(|e| {
            ActionError::system(
                "request_build_failed",
                format!(
                    "could not build the request: {}",
                    crate::client::describe_reqwest(&e)
                ),
            )
        })
    }

    /// The request URL: `url`, or `baseUrl` (else the `url` secret) joined with `path`, plus the
    /// rendered query parameters that are not empty.
    fn request_url(
        &self,
        ctx: &ActionContext,
        req: &Request,
        tctx: &minijinja::Value,
    ) -> Result<reqwest::Url, ActionError> {
        let url_text = match (&req.url, &req.path) {
            (Some(url), _) => self.renderer.render_str(url, tctx)?,
            (None, Some(path)) => {
                let base = ctx
                    .instance
                    .base
                    .base_url_with(|t| self.renderer.render_str(t, tctx))?;
                let base = match base {
                    Some(b) => b,
                    None => ctx
                        .secrets
                        .get_str("url")
                        .map(str::to_string)
                        .ok_or_else(|| {
                            ActionError::user(
                                "invalid_config",
                                "the spec has no baseUrl for this request",
                            )
                        })?,
                };
                let path = self.renderer.render_path(path, tctx)?;
                format!(
                    "{}/{}",
                    base.trim_end_matches('/'),
                    path.trim_start_matches('/')
                )
            }
            (None, None) => {
                return Err(ActionError::system(
                    "invalid_spec",
                    "request has no url or path",
                ));
            }
        };
        let mut url = reqwest::Url::parse(url_text.trim()).map_err(|e| {
            ActionError::user("invalid_url", format!("the request URL is not valid: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ActionError::user(
                "invalid_url",
                format!("unsupported URL scheme `{}`", url.scheme()),
            ));
        }
        let mut rendered = Vec::new();
        for (k, v) in &req.query {
            let v = self.renderer.render_str(v, tctx)?;
            if !v.is_empty() {
                rendered.push((k, v));
            }
        }
        if !rendered.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in rendered {
                q.append_pair(k, &v);
            }
        }
        Ok(url)
    }

    /// The rendered body, with its content type.
    fn with_body(
        &self,
        b: reqwest::RequestBuilder,
        req: &Request,
        tctx: &minijinja::Value,
    ) -> Result<reqwest::RequestBuilder, ActionError> {
        Ok(match &req.body {
            None => b,
            Some(Body::Json(v)) => b.json(&self.renderer.render_json(v, tctx)?),
            Some(Body::Form(fields)) => {
                let mut pairs = Vec::with_capacity(fields.len());
                for (k, v) in fields {
                    pairs.push((k.clone(), self.renderer.render_str(v, tctx)?));
                }
                b.form(&pairs)
            }
            Some(Body::Multipart(fields)) => {
                let mut form = reqwest::multipart::Form::new();
                for (k, v) in fields {
                    form = form.text(k.clone(), self.renderer.render_str(v, tctx)?);
                }
                // Multipart bodies are built as bytes so that retries can clone them.
                let boundary = form.boundary().to_string();
                let bytes = multipart_bytes(form)?;
                b.header(
                    reqwest::header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(bytes)
            }
            Some(Body::Text(t)) => {
                let t = self.renderer.render_str(t, tctx)?;
                let has_type = self
                    .spec
                    .auth
                    .headers
                    .keys()
                    .chain(req.headers.keys())
                    .any(|k| k.eq_ignore_ascii_case("content-type"));
                if has_type {
                    b.body(t)
                } else {
                    b.header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                        .body(t)
                }
            }
        })
    }
}

fn method(m: HttpMethod) -> reqwest::Method {
    match m {
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
        HttpMethod::Delete => reqwest::Method::DELETE,
        HttpMethod::Head => reqwest::Method::HEAD,
    }
}

fn multipart_bytes(form: reqwest::multipart::Form) -> Result<Vec<u8>, ActionError> {
    // Text-only forms: the stream is in memory, so polling it to completion never waits.
    let mut stream = form.into_stream();
    let mut out = Vec::new();
    let waker = futures::task::noop_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        match stream.poll_next_unpin(&mut cx) {
            std::task::Poll::Ready(Some(Ok(chunk))) => out.extend_from_slice(&chunk),
            std::task::Poll::Ready(Some(Err(e))) => {
                return Err(ActionError::system(
                    "request_build_failed",
                    format!("multipart body: {e}"),
                ));
            }
            std::task::Poll::Ready(None) => return Ok(out),
            std::task::Poll::Pending => {
                return Err(ActionError::system(
                    "request_build_failed",
                    "multipart body is not in memory",
                ));
            }
        }
    }
}
