//! Pagination: a listing is a stream of pages. The driver here fetches pages, applies the
//! bounds (`maxPages`, `maxRecords`, the default page cap) and maps records; what the next
//! request is comes from one [`Paginator`] per style, each in its own file.

use std::sync::Arc;

use connector_spec::path::{JsonPath, Segment};
use connector_spec::{ConnectorSpec, HttpMethod, Pagination, PaginationStyle, ParamsIn};
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::Value;
use serde_json::value::RawValue;

use super::DeclarativeExecutor;
use super::request::template_context;
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::listing::{ListingLimit, Truncation};

mod cursor;
pub mod link_header;
mod next_url;
mod offset;
mod page;
mod raw;

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

/// One page of a listing whose records stayed the JSON text they came in (see
/// [`DeclarativeExecutor::raw_record_pages`]).
#[derive(Debug)]
pub struct RawPage {
    pub records: Vec<Box<RawValue>>,
    /// As [`Page::truncated`].
    pub truncated: Option<crate::listing::Truncation>,
}

/// What the driver hands out per page: records as values, or as text.
enum Taken {
    Values(Page),
    Raw(RawPage),
}

/// The page just fetched, as a paginator sees it to decide the next request.
pub struct Fetched<'a> {
    /// The parsed body (records still in place).
    pub body: &'a Value,
    /// The reply's headers.
    pub headers: &'a reqwest::header::HeaderMap,
    /// Records taken from this page (at least one: an empty page always ends the listing).
    pub got: u64,
}

/// One pagination style: where the listing starts and how to get from a page to the next.
pub trait Paginator: Send {
    /// Set the parameters of the first request.
    fn first(&mut self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError>;
    /// The request for the page after `page`, made from a copy of the request that fetched it,
    /// or `None` when the provider has no more; an error when the page says where the next
    /// one is in a way that cannot be followed.
    fn next(
        &mut self,
        pg: &Pagination,
        page: &Fetched<'_>,
        req: reqwest::Request,
    ) -> Result<Option<reqwest::Request>, ActionError>;
}

/// The paginator for a style.
fn paginator_for(pg: &Pagination) -> Box<dyn Paginator> {
    match pg.style {
        PaginationStyle::Cursor => Box::new(cursor::CursorPaginator::default()),
        PaginationStyle::Offset => Box::new(offset::OffsetPaginator::default()),
        PaginationStyle::Page => Box::new(page::PagePaginator::new(pg)),
        PaginationStyle::LinkHeader => Box::new(link_header::LinkHeaderPaginator),
        PaginationStyle::NextUrl => Box::new(next_url::NextUrlPaginator::default()),
    }
}

/// Set the page-size parameter (when the spec has one) and the style's own parameter, in the
/// query (keeping every other query parameter) or, with `paramsIn: body`, as top-level keys
/// of the JSON object body (numbers stay numbers there).
fn set_params(
    req: &mut reqwest::Request,
    pg: &Pagination,
    style_param: Option<(&str, Value)>,
) -> Result<(), ActionError> {
    let mut set: Vec<(&str, Value)> = Vec::new();
    if let (Some(p), Some(size)) = (&pg.limit_param, pg.page_size) {
        set.push((p, Value::from(size)));
    }
    set.extend(style_param);
    match pg.params_in.unwrap_or(ParamsIn::Query) {
        ParamsIn::Query if set.is_empty() => Ok(()),
        ParamsIn::Query => {
            set_query(req, &set);
            Ok(())
        }
        // Checked on the first request too, when there may be nothing to add yet: a body that
        // cannot take the cursor fails before anything is sent.
        ParamsIn::Body => set_body(req, &set),
    }
}

fn set_query(req: &mut reqwest::Request, set: &[(&str, Value)]) {
    let keep: Vec<(String, String)> = req
        .url()
        .query_pairs()
        .filter(|(k, _)| !set.iter().any(|(s, _)| s == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut q = req.url_mut().query_pairs_mut();
    q.clear();
    for (k, v) in &keep {
        q.append_pair(k, v);
    }
    for (k, v) in set {
        match v {
            Value::String(text) => q.append_pair(k, text),
            other => q.append_pair(k, &other.to_string()),
        };
    }
}

fn set_body(req: &mut reqwest::Request, set: &[(&str, Value)]) -> Result<(), ActionError> {
    let parsed = req
        .body()
        .and_then(reqwest::Body::as_bytes)
        .map(serde_json::from_slice::<Value>);
    let Some(Ok(Value::Object(mut body))) = parsed else {
        return Err(ActionError::system(
            "invalid_request",
            "`paramsIn: body` puts the paging parameters into the request's JSON body, and \
             this request's body is not a JSON object",
        ));
    };
    for (k, v) in set {
        body.insert((*k).to_string(), v.clone());
    }
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| ActionError::system("invalid_request", e.to_string()))?;
    req.headers_mut().remove(reqwest::header::CONTENT_LENGTH);
    *req.body_mut() = Some(bytes.into());
    Ok(())
}

/// For the counting styles (offset, page): whether another page may exist after `seen`
/// records, given a short page (fewer than `pageSize`) or a total at `totalPath`.
fn more_after(pg: &Pagination, page: &Fetched<'_>, seen: u64) -> bool {
    if pg.page_size.is_some_and(|size| page.got < size) {
        return false;
    }
    let total = pg
        .total_path
        .as_ref()
        .and_then(|p| p.first(page.body))
        .and_then(Value::as_u64);
    total.is_none_or(|total| seen < total)
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

/// Where a listing is.
struct State {
    next: Option<reqwest::Request>,
    pages: u64,
    records: u64,
    paginator: Box<dyn Paginator>,
}

/// What every page of one listing shares.
struct Listing {
    exec: Arc<DeclarativeExecutor>,
    ctx: ActionContext,
    action: String,
    input: Value,
    pg: Pagination,
    limits: Limits,
    keep_body: bool,
    /// The key path of the records, when they are kept as text.
    raw: Option<Vec<String>>,
}

impl DeclarativeExecutor {
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

    /// Like [`DeclarativeExecutor::record_pages`] for a caller that writes the records out
    /// unchanged: they are kept as the JSON text of the reply, never built into values.
    /// `None` when the listing cannot be read that way: its records path has an index or a
    /// wildcard, its cursor or total is read from inside the records, or the action maps
    /// its records (`response.output`).
    pub fn raw_record_pages(
        self: &Arc<Self>,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> Option<BoxStream<'static, Result<RawPage, ActionError>>> {
        let pg = self.pagination(action)?;
        let keys = raw::raw_records_path(pg)?;
        let (_, mapping) = self.http_parts(action).ok()?;
        if mapping.is_some_and(|m| m.output.is_some()) {
            return None;
        }
        let keys = keys.into_iter().map(str::to_string).collect();
        let pages = self.listing_stream(ctx, action, input, false, Some(keys));
        Some(
            pages
                .map(|p| match p? {
                    Taken::Raw(page) => Ok(page),
                    Taken::Values(_) => unreachable!("a raw listing hands out raw pages"),
                })
                .boxed(),
        )
    }

    fn page_stream(
        self: &Arc<Self>,
        ctx: ActionContext,
        action: &str,
        input: Value,
        keep_body: bool,
    ) -> BoxStream<'static, Result<Page, ActionError>> {
        if self.pagination(action).is_none() {
            let this = Arc::clone(self);
            let action = action.to_string();
            return stream::once(async move {
                let body = this.execute(&ctx, &action, &input).await?;
                Ok(Page {
                    records: vec![body.clone()],
                    body,
                    truncated: None,
                })
            })
            .boxed();
        }
        self.listing_stream(ctx, action, input, keep_body, None)
            .map(|p| match p? {
                Taken::Values(page) => Ok(page),
                Taken::Raw(_) => unreachable!("a value listing hands out value pages"),
            })
            .boxed()
    }

    /// The driver's stream of a paginated action, once the caller's account values (a
    /// spec with `auth.account`) are loaded for its templates.
    fn listing_stream(
        self: &Arc<Self>,
        ctx: ActionContext,
        action: &str,
        input: Value,
        keep_body: bool,
        raw: Option<Vec<String>>,
    ) -> BoxStream<'static, Result<Taken, ActionError>> {
        if self.spec.auth.account.is_none() || ctx.account_value().is_some() {
            return self.listing_pages(ctx, action, input, keep_body, raw);
        }
        let this = Arc::clone(self);
        let action = action.to_string();
        stream::once(async move {
            match ctx.load_account().await {
                Ok(()) => this.listing_pages(ctx, &action, input, keep_body, raw),
                Err(e) => stream::once(async move { Err(e) }).boxed(),
            }
        })
        .flatten()
        .boxed()
    }

    /// The pages of a listing.
    fn listing_pages(
        self: &Arc<Self>,
        ctx: ActionContext,
        action: &str,
        input: Value,
        keep_body: bool,
        raw: Option<Vec<String>>,
    ) -> BoxStream<'static, Result<Taken, ActionError>> {
        let this = Arc::clone(self);
        let action = action.to_string();
        let Some(pg) = this.pagination(&action).cloned() else {
            return stream::once(async move {
                Err(ActionError::system(
                    "not_a_listing",
                    format!("action `{action}` has no pagination"),
                ))
            })
            .boxed();
        };
        let mut paginator = paginator_for(&pg);
        let first = (|| {
            let (request, _) = this.http_parts(&action)?;
            let tctx = template_context(&ctx, &input, None);
            let mut req = this.build_request(&ctx, request, &tctx)?;
            paginator.first(&pg, &mut req)?;
            Ok::<_, ActionError>(req)
        })();
        let first = match first {
            Ok(req) => req,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let state = State {
            next: Some(first),
            pages: 0,
            records: 0,
            paginator,
        };
        let listing = Arc::new(Listing {
            exec: this,
            ctx,
            action,
            input,
            limits: Limits::of(&pg),
            pg,
            keep_body,
            raw,
        });
        stream::unfold(state, move |st| {
            let listing = Arc::clone(&listing);
            async move { listing.next_page(st).await }
        })
        .boxed()
    }
}

impl Listing {
    /// Fetch the next page, decide the request after it, and take its records.
    async fn next_page(&self, mut st: State) -> Option<(Result<Taken, ActionError>, State)> {
        let req = st.next.take()?;
        let result = self.take_page(&mut st, req).await;
        Some((result, st))
    }

    async fn take_page(&self, st: &mut State, req: reqwest::Request) -> Result<Taken, ActionError> {
        let exec = &self.exec;
        let (_, mapping) = exec.http_parts(&self.action)?;
        let template_req = req.try_clone();
        let (mut body, headers, raw) = self.fetch(req, mapping).await?;
        let found = raw
            .as_ref()
            .map_or_else(|| records_found(&self.pg, &body), Vec::len) as u64;
        let got = found.min(self.limits.max_records - st.records);
        st.pages += 1;
        st.records += got;
        let fetched = Fetched {
            body: &body,
            headers: &headers,
            got,
        };
        let next_req = match template_req.filter(|_| got > 0) {
            Some(r) => st.paginator.next(&self.pg, &fetched, r)?,
            None => None,
        };
        let truncated = self.limits.stop(st, found > got, next_req.is_some());
        st.next = next_req.filter(|_| truncated.is_none());
        if let Some(mut records) = raw {
            records.truncate(got as usize);
            return Ok(Taken::Raw(RawPage { records, truncated }));
        }
        // The records are taken after the next request is decided: a cursor may be read
        // from inside them.
        let mut records = page_records(&self.pg, &mut body, !self.keep_body);
        records.truncate(got as usize);
        exec.map_records(&self.ctx, mapping, &self.input, &mut records)?;
        if !self.keep_body {
            body = Value::Null;
        }
        Ok(Taken::Values(Page {
            records,
            body,
            truncated,
        }))
    }

    /// Send a page's request: the parsed body and headers, and with `raw` the records as
    /// text (the body then has null where they were).
    async fn fetch(
        &self,
        req: reqwest::Request,
        mapping: Option<&connector_spec::ResponseMapping>,
    ) -> Result<FetchedPage, ActionError> {
        let (ctx, input) = (&self.ctx, &self.input);
        let Some(keys) = &self.raw else {
            let (body, headers) = self.exec.call(ctx, req, mapping, input).await?;
            return Ok((body, headers, None));
        };
        let (bytes, headers, status) = self.exec.call_bytes(ctx, req, mapping, input).await?;
        if super::response::says_json(&headers) && !bytes.iter().all(u8::is_ascii_whitespace) {
            let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
            let (body, records) = raw::split_records(&bytes, &keys)
                .map_err(|e| super::response::invalid_json(&e, status))?;
            return Ok((body, headers, Some(records)));
        }
        // A reply not declared as JSON is parsed as any reply is; its records become text.
        let mut body = super::response::parse_reply(&headers, &bytes, status)?;
        let records = page_records(&self.pg, &mut body, true)
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<_, _>>()
            .map_err(|e| ActionError::system("invalid_response", e.to_string()))?;
        Ok((body, headers, Some(records)))
    }
}

/// A fetched page: its body, its headers, and its records when they are kept as text.
type FetchedPage = (
    Value,
    reqwest::header::HeaderMap,
    Option<Vec<Box<RawValue>>>,
);

/// How many records a page's body holds at the pagination's `records` path.
fn records_found(pg: &Pagination, body: &Value) -> usize {
    match &pg.records {
        Some(path) if path.is_multi() => path.select(body).len(),
        Some(path) => match path.first(body) {
            Some(Value::Array(a)) => a.len(),
            Some(Value::Null) | None => 0,
            Some(_) => 1,
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
        Some(path) if take && !path.is_multi() => take_at(body, path),
        Some(path) => path.evaluate(body),
        None => {
            let whole = if take {
                std::mem::take(body)
            } else {
                body.clone()
            };
            return match whole {
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
fn take_at(root: &mut Value, path: &JsonPath) -> Option<Value> {
    let mut v = root;
    for seg in &path.segments {
        v = match (seg, v) {
            (Segment::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Segment::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(std::mem::take(v))
}
