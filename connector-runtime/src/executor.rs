//! The declarative executor: requests from spec templates, response mapping, error detection,
//! pagination as a stream of pages, and streaming responses as a stream of events.

use std::sync::Arc;

use bytes::Bytes;
use connector_spec::path::JsonPath;
use connector_spec::{
    Body, ConnectorSpec, HttpMethod, Pagination, PaginationStyle, Request, ResponseMapping,
    StreamFormat, Streaming,
};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};

use crate::client::{SendOptions, condition_matches};
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::listing::{ListingLimit, Truncation};
use crate::template::Renderer;

/// Pages followed when a spec sets no `maxPages`: a bound, so a provider that always returns a
/// next cursor cannot keep a listing going forever.
pub const DEFAULT_MAX_PAGES: u64 = 1_000;

/// The pagination that applies to an action of `spec`: its own `pagination`, else
/// `policies.pagination` for an HTTP GET action (a default listing style must not turn a POST
/// that creates something into a listing). `None` for code actions and actions that do not
/// list.
pub fn pagination_of<'s>(spec: &'s ConnectorSpec, action: &str) -> Option<&'s Pagination> {
    let a = spec.actions.get(action)?;
    let connector_spec::Implementation::Http { request, .. } = &a.implementation else {
        return None;
    };
    let is_get = request.method == HttpMethod::Get;
    a.pagination
        .as_ref()
        .or(spec.policies.pagination.as_ref().filter(|_| is_get))
}

/// Where a listing is.
struct State {
    next: Option<reqwest::Request>,
    pages: u64,
    records: u64,
    offset: u64,
    page: u64,
    last_cursor: Option<String>,
}

/// The bounds of one listing.
#[derive(Clone, Copy)]
struct Limits {
    max_pages: u64,
    max_records: u64,
    /// Which limit `max_pages` is.
    page_limit: ListingLimit,
}

impl Limits {
    fn of(pg: &Pagination) -> Limits {
        Limits {
            max_pages: pg.max_pages.unwrap_or(DEFAULT_MAX_PAGES),
            max_records: pg.max_records.unwrap_or(u64::MAX),
            page_limit: if pg.max_pages.is_some() {
                ListingLimit::MaxPages
            } else {
                ListingLimit::DefaultPageCap
            },
        }
    }

    /// After a page: whether a limit ends the listing while the provider has more (records
    /// cut from this page, or a next page that will not be fetched).
    fn stop(&self, st: &State, cut: bool, has_next: bool) -> Option<Truncation> {
        let records_full = st.records >= self.max_records;
        if cut || (records_full && has_next) {
            return Some(Truncation {
                limit: ListingLimit::MaxRecords,
                value: self.max_records,
            });
        }
        (has_next && st.pages >= self.max_pages).then_some(Truncation {
            limit: self.page_limit,
            value: self.max_pages,
        })
    }
}

/// One page of a paginated listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records found at the pagination's `records` path.
    pub records: Vec<Value>,
    /// The whole response body.
    pub body: Value,
    /// Set on the last page when a limit (`maxRecords`, `maxPages`, the built-in page cap)
    /// ended the listing while the provider had more.
    pub truncated: Option<crate::listing::Truncation>,
}

/// One event of a streaming response.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvent {
    /// SSE event name (`message` by default); `line` for NDJSON, `chunk` for chunked text.
    pub event: String,
    /// Parsed JSON when the payload is JSON, else the text.
    pub data: Value,
}

/// A stream of events from a streaming action.
pub type EventStream = BoxStream<'static, Result<StreamEvent, ActionError>>;

/// Executes the HTTP actions of one spec.
#[derive(Debug)]
pub struct DeclarativeExecutor {
    pub spec: Arc<ConnectorSpec>,
    renderer: Renderer,
}

/// The template context for a call.
pub fn template_context(
    ctx: &ActionContext,
    input: &Value,
    response: Option<&Value>,
) -> minijinja::Value {
    // Each part is converted straight into a template value (no intermediate JSON copy).
    use minijinja::Value as V;
    let mut parts: Vec<(&str, V)> = vec![
        ("config", V::from_serialize(&ctx.config)),
        ("secrets", V::from_serialize(ctx.secrets.expose())),
        ("input", V::from_serialize(input)),
    ];
    if let Some(r) = response {
        parts.push(("response", V::from_serialize(r)));
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
    pub fn new(spec: Arc<ConnectorSpec>) -> DeclarativeExecutor {
        let renderer = Renderer::for_spec(&spec);
        DeclarativeExecutor { spec, renderer }
    }

    /// Build the HTTP request for a spec request.
    pub fn build_request(
        &self,
        ctx: &ActionContext,
        req: &Request,
        tctx: &minijinja::Value,
    ) -> Result<reqwest::Request, ActionError> {
        let url_text = match (&req.url, &req.path) {
            (Some(url), _) => self.renderer.render_str(url, tctx)?,
            (None, Some(path)) => {
                let base = match &self.spec.base_url {
                    Some(b) => self.renderer.render_str(b, tctx)?,
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
        {
            let mut rendered = Vec::new();
            for (k, v) in &req.query {
                let v = self.renderer.render_str(v, tctx)?;
                if !v.is_empty() {
                    rendered.push((k.clone(), v));
                }
            }
            if !rendered.is_empty() {
                let mut q = url.query_pairs_mut();
                for (k, v) in rendered {
                    q.append_pair(&k, &v);
                }
            }
        }
        let method = match req.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
            HttpMethod::Put => reqwest::Method::PUT,
            HttpMethod::Patch => reqwest::Method::PATCH,
            HttpMethod::Delete => reqwest::Method::DELETE,
            HttpMethod::Head => reqwest::Method::HEAD,
        };
        let mut b = ctx.client.request(method, url);
        for (k, template) in self.spec.auth.headers.iter().chain(req.headers.iter()) {
            let v = self.renderer.render_str(template, tctx)?;
            let mut hv = reqwest::header::HeaderValue::from_str(&v).map_err(|_| {
                ActionError::user(
                    "invalid_header",
                    format!("header `{k}` renders to a value not allowed in HTTP"),
                )
            })?;
            // A header built from a secret (e.g. `GenieKey {{ secrets.apiKey }}`) is kept out of
            // reqwest's and hyper's debug output.
            if template.contains("secrets.") || self.is_secret_header(k) {
                hv.set_sensitive(true);
            }
            b = b.header(k.as_str(), hv);
        }
        b = match &req.body {
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
                if req
                    .headers
                    .keys()
                    .any(|k| k.eq_ignore_ascii_case("content-type"))
                    || self
                        .spec
                        .auth
                        .headers
                        .keys()
                        .any(|k| k.eq_ignore_ascii_case("content-type"))
                {
                    b.body(t)
                } else {
                    b.header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                        .body(t)
                }
            }
        };
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

    fn is_secret_header(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("authorization")
    }

    /// Send a request and return the parsed body of a successful reply, after error rules.
    pub async fn call(
        &self,
        ctx: &ActionContext,
        req: reqwest::Request,
        mapping: Option<&ResponseMapping>,
        input: &Value,
    ) -> Result<(Value, reqwest::header::HeaderMap), ActionError> {
        let resp = ctx.client.send(req, SendOptions::default()).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = ctx.client.read_body(resp).await?;
        // Error rules may match non-2xx replies too (a rule with `status`).
        if let Some(m) = mapping {
            let success = (200..300).contains(&status);
            for rule in &m.errors {
                // A rule without `status` inspects successful replies only.
                if rule.when.status.is_empty() && !success {
                    continue;
                }
                if condition_matches(&rule.when, status, &body) {
                    let parsed = parse_body(&body);
                    let message = match &rule.message {
                        Some(t) => {
                            let tctx = template_context(ctx, input, Some(&parsed));
                            self.renderer
                                .render_str(t, &tctx)
                                .unwrap_or_else(|_| "the provider reported an error".into())
                        }
                        None => "the provider reported an error".into(),
                    };
                    return Err(ctx.client.scrub(
                        ActionError::new(rule.class, "provider_error", message).with_status(status),
                    ));
                }
            }
        }
        if !(200..300).contains(&status) {
            return Err(ctx.client.error_for(status, &body));
        }
        Ok((parse_reply(&headers, &body, status)?, headers))
    }

    /// Run an HTTP action once (first page only for paginated actions).
    pub async fn execute(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: &Value,
    ) -> Result<Value, ActionError> {
        let (request, mapping) = self.http_parts(action)?;
        let tctx = template_context(ctx, input, None);
        let req = self.build_request(ctx, request, &tctx)?;
        let (body, _) = self.call(ctx, req, mapping, input).await?;
        self.map_output(ctx, mapping, input, body)
    }

    fn http_parts(
        &self,
        action: &str,
    ) -> Result<(&Request, Option<&ResponseMapping>), ActionError> {
        let a = self.spec.actions.get(action).ok_or_else(|| {
            ActionError::user("unknown_action", format!("unknown action `{action}`"))
        })?;
        match &a.implementation {
            connector_spec::Implementation::Http { request, response } => {
                Ok((request, response.as_ref()))
            }
            connector_spec::Implementation::Code { .. } => Err(ActionError::system(
                "no_handler",
                format!("action `{action}` is implemented in code and no handler is registered"),
            )),
        }
    }

    /// Apply the output mapping.
    pub fn map_output(
        &self,
        ctx: &ActionContext,
        mapping: Option<&ResponseMapping>,
        input: &Value,
        body: Value,
    ) -> Result<Value, ActionError> {
        let Some(output) = mapping.and_then(|m| m.output.as_ref()) else {
            return Ok(body);
        };
        // The template context is built only when the mapping renders a template: a mapping
        // made of `$` paths and literals never reads it.
        let tctx = if has_template(output) {
            template_context(ctx, input, Some(&body))
        } else {
            minijinja::Value::UNDEFINED
        };
        self.map_value(output, &body, &tctx)
    }

    /// Apply the output mapping to each record of a listing page: on a listing, `output`
    /// maps one record (`$` and `response` are the record).
    fn map_records(
        &self,
        ctx: &ActionContext,
        mapping: Option<&ResponseMapping>,
        input: &Value,
        records: &mut [Value],
    ) -> Result<(), ActionError> {
        if mapping.is_none_or(|m| m.output.is_none()) {
            return Ok(());
        }
        for r in records {
            *r = self.map_output(ctx, mapping, input, std::mem::take(r))?;
        }
        Ok(())
    }

    fn map_value(
        &self,
        spec: &Value,
        body: &Value,
        tctx: &minijinja::Value,
    ) -> Result<Value, ActionError> {
        Ok(match spec {
            Value::String(s) if s.starts_with('$') => {
                let p = JsonPath::parse(s).map_err(|e| {
                    ActionError::system("invalid_spec", format!("output path: {e}"))
                })?;
                p.evaluate(body).unwrap_or(Value::Null)
            }
            Value::String(_) => self.renderer.render_json(spec, tctx)?,
            Value::Object(m) => {
                let mut out = serde_json::Map::with_capacity(m.len());
                for (k, v) in m {
                    out.insert(k.clone(), self.map_value(v, body, tctx)?);
                }
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.map_value(v, body, tctx))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    /// The pagination that applies to an action.
    /// An action's own `pagination`, else `policies.pagination` for GET actions: a default
    /// listing style must not turn a POST that creates something into a listing.
    pub fn pagination(&self, action: &str) -> Option<&Pagination> {
        pagination_of(&self.spec, action)
    }

    /// Follow pagination: a stream of pages, bounded by `maxPages`/`maxRecords` (or the default
    /// page cap), ending when the provider signals the last page.
    pub fn pages(
        self: &Arc<Self>,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> BoxStream<'static, Result<Page, ActionError>> {
        self.page_stream(ctx, action, input, true)
    }

    /// Like [`DeclarativeExecutor::pages`] for a caller that wants only the records: each
    /// page's records are moved out of the reply instead of copied, and `Page::body` is null.
    pub fn record_pages(
        self: &Arc<Self>,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> BoxStream<'static, Result<Page, ActionError>> {
        self.page_stream(ctx, action, input, false)
    }

    fn page_stream(
        self: &Arc<Self>,
        ctx: ActionContext,
        action: &str,
        input: Value,
        keep_body: bool,
    ) -> BoxStream<'static, Result<Page, ActionError>> {
        let this = Arc::clone(self);
        let action = action.to_string();
        let Some(pg) = this.pagination(&action).cloned() else {
            return stream::once(async move {
                let body = this.execute(&ctx, &action, &input).await?;
                Ok(Page {
                    records: vec![body.clone()],
                    body,
                    truncated: None,
                })
            })
            .boxed();
        };
        let first = (|| {
            let (request, _) = this.http_parts(&action)?;
            let tctx = template_context(&ctx, &input, None);
            let mut req = this.build_request(&ctx, request, &tctx)?;
            let start_page = pg.start_page.unwrap_or(1);
            set_page_params(&mut req, &pg, None, 0, start_page);
            Ok::<_, ActionError>((req, start_page))
        })();
        let (first, start_page) = match first {
            Ok(v) => v,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let limits = Limits::of(&pg);
        let state = State {
            next: Some(first),
            pages: 0,
            records: 0,
            offset: 0,
            page: start_page,
            last_cursor: None,
        };
        stream::unfold(state, move |mut st| {
            let this = Arc::clone(&this);
            let ctx = ctx.clone();
            let input = input.clone();
            let action = action.clone();
            let pg = pg.clone();
            async move {
                let req = st.next.take()?;
                let (_, mapping) = match this.http_parts(&action) {
                    Ok(p) => p,
                    Err(e) => return Some((Err(e), st)),
                };
                let template_req = req.try_clone();
                let (mut body, headers) = match this.call(&ctx, req, mapping, &input).await {
                    Ok(v) => v,
                    Err(e) => return Some((Err(e), st)),
                };
                let found = records_found(&pg, &body) as u64;
                let got = found.min(limits.max_records - st.records);
                st.pages += 1;
                st.records += got;
                // Decide the next request.
                let next_req = template_req.and_then(|mut r| {
                    if got == 0 {
                        return None;
                    }
                    match pg.style {
                        PaginationStyle::Cursor => {
                            let cursor = pg
                                .cursor_path
                                .as_deref()
                                .and_then(|p| JsonPath::parse(p).ok())
                                .and_then(|p| p.first(&body).cloned());
                            let cursor = match cursor {
                                Some(Value::String(s)) if !s.is_empty() => s,
                                Some(Value::Number(n)) => n.to_string(),
                                _ => return None,
                            };
                            if st.last_cursor.as_deref() == Some(cursor.as_str()) {
                                tracing::warn!(
                                    "pagination: the provider repeated a cursor; stopping"
                                );
                                return None;
                            }
                            st.last_cursor = Some(cursor.clone());
                            set_page_params(&mut r, &pg, Some(&cursor), 0, 0);
                            Some(r)
                        }
                        PaginationStyle::Offset | PaginationStyle::Page => {
                            if pg.page_size.is_some_and(|size| got < size) {
                                return None;
                            }
                            st.offset += got;
                            st.page += 1;
                            if let Some(total) = pg
                                .total_path
                                .as_deref()
                                .and_then(|p| JsonPath::parse(p).ok())
                                .and_then(|p| p.first(&body).and_then(Value::as_u64))
                            {
                                let seen = if pg.style == PaginationStyle::Offset {
                                    st.offset
                                } else {
                                    st.records
                                };
                                if seen >= total {
                                    return None;
                                }
                            }
                            set_page_params(&mut r, &pg, None, st.offset, st.page);
                            Some(r)
                        }
                        PaginationStyle::LinkHeader => {
                            let next = next_link(&headers)?;
                            let url = r.url().join(&next).ok()?;
                            *r.url_mut() = url;
                            Some(r)
                        }
                    }
                });
                let truncated = limits.stop(&st, found > got, next_req.is_some());
                st.next = next_req.filter(|_| truncated.is_none());
                // The records are taken after the next request is decided: a cursor may be read
                // from inside them.
                let mut records = page_records(&pg, &mut body, !keep_body);
                records.truncate(got as usize);
                if let Err(e) = this.map_records(&ctx, mapping, &input, &mut records) {
                    return Some((Err(e), st));
                }
                if !keep_body {
                    body = Value::Null;
                }
                let page = Page {
                    records,
                    body,
                    truncated,
                };
                Some((Ok(page), st))
            }
        })
        .boxed()
    }

    /// Start a streaming action: a stream of events that ends at the provider's end of stream
    /// (or the done marker), aborts when dropped or when the context is cancelled.
    pub async fn stream(
        self: &Arc<Self>,
        ctx: &ActionContext,
        action: &str,
        input: &Value,
    ) -> Result<EventStream, ActionError> {
        let a = self.spec.actions.get(action).ok_or_else(|| {
            ActionError::user("unknown_action", format!("unknown action `{action}`"))
        })?;
        let streaming: Streaming = a
            .streaming
            .clone()
            .or_else(|| self.spec.policies.streaming.clone())
            .ok_or_else(|| {
                ActionError::user(
                    "not_streaming",
                    format!("action `{action}` does not stream"),
                )
            })?;
        let (request, mapping) = self.http_parts(action)?;
        let tctx = template_context(ctx, input, None);
        let req = self.build_request(ctx, request, &tctx)?;
        let resp = ctx
            .client
            .send(req, SendOptions { streaming: true })
            .await?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = ctx.client.read_body(resp).await.unwrap_or_default();
            return Err(ctx.client.error_for(status, &body));
        }
        let client = ctx.client.clone();
        let bytes = resp
            .bytes_stream()
            .map(move |r| r.map_err(|e| client.scrub(crate::client::from_reqwest(&e))));
        let events: EventStream = match streaming.format {
            StreamFormat::Sse => {
                use eventsource_stream::Eventsource;
                let done = streaming.done_marker.clone();
                bytes
                    .eventsource()
                    .map(|r| match r {
                        Ok(ev) => Ok(StreamEvent { event: if ev.event.is_empty() { "message".into() } else { ev.event }, data: parse_text(&ev.data) }),
                        Err(eventsource_stream::EventStreamError::Transport(e)) => Err(e),
                        Err(e) => Err(ActionError::system("invalid_stream", format!("malformed event stream: {e}"))),
                    })
                    .take_while(move |r| {
                        let stop = matches!((r, &done), (Ok(ev), Some(d)) if ev.data == Value::String(d.clone()));
                        futures::future::ready(!stop)
                    })
                    .boxed()
            }
            StreamFormat::Ndjson => lines(bytes)
                .filter_map(|r| async move {
                    match r {
                        Ok(line) if line.trim().is_empty() => None,
                        Ok(line) => Some(
                            serde_json::from_str::<Value>(&line)
                                .map(|data| StreamEvent {
                                    event: "line".into(),
                                    data,
                                })
                                .map_err(|e| {
                                    ActionError::system(
                                        "invalid_stream",
                                        format!("a line of the NDJSON stream is not JSON: {e}"),
                                    )
                                }),
                        ),
                        Err(e) => Some(Err(e)),
                    }
                })
                .boxed(),
            StreamFormat::Chunked => bytes
                .map(|r| {
                    r.map(|b| StreamEvent {
                        event: "chunk".into(),
                        data: Value::String(String::from_utf8_lossy(&b).into_owned()),
                    })
                })
                .boxed(),
        };
        let events = match mapping.filter(|m| m.output.is_some()).cloned() {
            // On a stream, `response.output` maps one event's data (`$` is the data).
            Some(mapping) => {
                let this = Arc::clone(self);
                let (ctx, input) = (ctx.clone(), input.clone());
                events
                    .map(move |r| {
                        let mut ev = r?;
                        ev.data = this.map_output(&ctx, Some(&mapping), &input, ev.data)?;
                        Ok(ev)
                    })
                    .boxed()
            }
            None => events,
        };
        let cancel = ctx.cancel.clone();
        Ok(events.take_until(cancel.cancelled_owned()).boxed())
    }
}

fn set_page_params(
    req: &mut reqwest::Request,
    pg: &Pagination,
    cursor: Option<&str>,
    offset: u64,
    page: u64,
) {
    let mut set: Vec<(String, String)> = Vec::new();
    if let (Some(p), Some(size)) = (&pg.limit_param, pg.page_size) {
        set.push((p.clone(), size.to_string()));
    }
    match pg.style {
        PaginationStyle::Cursor => {
            if let (Some(p), Some(c)) = (&pg.cursor_param, cursor) {
                set.push((p.clone(), c.to_string()));
            }
        }
        PaginationStyle::Offset => {
            if let Some(p) = &pg.offset_param {
                set.push((p.clone(), offset.to_string()));
            }
        }
        PaginationStyle::Page => {
            if let Some(p) = &pg.page_param {
                set.push((p.clone(), page.to_string()));
            }
        }
        PaginationStyle::LinkHeader => {}
    }
    if set.is_empty() {
        return;
    }
    let keep: Vec<(String, String)> = req
        .url()
        .query_pairs()
        .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut q = req.url_mut().query_pairs_mut();
    q.clear();
    for (k, v) in keep.iter().chain(set.iter()) {
        q.append_pair(k, v);
    }
}

/// How many records a page's body holds at the pagination's `records` path.
fn records_found(pg: &Pagination, body: &Value) -> usize {
    match &pg.records {
        Some(p) => match JsonPath::parse(p) {
            Ok(path) if path.is_multi() => path.select(body).len(),
            Ok(path) => match path.first(body) {
                Some(Value::Array(a)) => a.len(),
                Some(Value::Null) | None => 0,
                Some(_) => 1,
            },
            Err(_) => 0,
        },
        None => match body {
            Value::Array(a) => a.len(),
            _ => 1,
        },
    }
}

/// The records of a page (as many as [`records_found`] counts), copied from the body or, with
/// `take`, moved out of it where the path names one place.
fn page_records(pg: &Pagination, body: &mut Value, take: bool) -> Vec<Value> {
    let found = match &pg.records {
        Some(p) => match JsonPath::parse(p) {
            Ok(path) if take && !path.is_multi() => take_at(body, &path.segments),
            Ok(path) => path.evaluate(body),
            Err(_) => None,
        },
        None => {
            return match if take {
                std::mem::take(body)
            } else {
                body.clone()
            } {
                Value::Array(a) => a,
                other => vec![other],
            };
        }
    };
    match found {
        Some(Value::Array(a)) => a,
        Some(Value::Null) | None => Vec::new(),
        Some(other) => vec![other],
    }
}

/// Move the value at a wildcard-free path out of `root` (leaving null there).
fn take_at(root: &mut Value, segments: &[connector_spec::path::Segment]) -> Option<Value> {
    use connector_spec::path::Segment;
    let mut v = root;
    for seg in segments {
        v = match (seg, v) {
            (Segment::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Segment::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(std::mem::take(v))
}

/// Whether an output mapping has a string that `map_value` renders as a template.
fn has_template(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.starts_with('$') && connector_spec::template::is_template(s),
        Value::Array(items) => items.iter().any(has_template),
        Value::Object(m) => m.values().any(has_template),
        _ => false,
    }
}

/// The `rel="next"` target of a Link header.
pub fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(v) = value.to_str() else { continue };
        for part in v.split(',') {
            let mut pieces = part.split(';');
            let target = pieces.next()?.trim();
            let is_next = pieces.any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            });
            if is_next {
                return Some(
                    target
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .to_string(),
                );
            }
        }
    }
    None
}

/// A successful reply's body: JSON when it says it is JSON (a body that says so and does not
/// parse is a typed error, never a silent fallback), else JSON when it parses, else text.
fn parse_reply(
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    status: u16,
) -> Result<Value, ActionError> {
    let says_json = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || m.ends_with("+json")
        })
        .unwrap_or(false);
    if says_json && !body.iter().all(u8::is_ascii_whitespace) {
        // The parser's message gives the position only, never the content.
        return serde_json::from_slice(body).map_err(|e| {
            ActionError::system(
                "invalid_response",
                format!("the reply is declared as JSON but does not parse: {e}"),
            )
            .with_status(status)
        });
    }
    Ok(parse_body(body))
}

/// A body as JSON when it parses, else as text; empty is null.
pub fn parse_body(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn parse_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
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

/// Split a byte stream into lines.
fn lines(
    bytes: impl futures::Stream<Item = Result<Bytes, ActionError>> + Send + 'static,
) -> BoxStream<'static, Result<String, ActionError>> {
    stream::unfold(
        (Box::pin(bytes), Vec::<u8>::new(), false),
        |(mut s, mut buf, mut done)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    return Some((
                        Ok(String::from_utf8_lossy(&line).trim_end().to_string()),
                        (s, buf, done),
                    ));
                }
                if done {
                    if buf.is_empty() {
                        return None;
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    buf.clear();
                    return Some((Ok(line), (s, buf, done)));
                }
                match s.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        done = true;
                        buf.clear();
                        return Some((Err(e), (s, buf, done)));
                    }
                    None => done = true,
                }
            }
        },
    )
    .boxed()
}
