//! Cursor pagination: the next cursor is read at `cursorPath` and sent in `cursorParam`; an
//! empty or missing cursor, the same cursor twice, or `false` at `hasMorePath` ends the
//! listing.

use connector_spec::Pagination;
use serde_json::Value;

use crate::error::ActionError;

use super::{Fetched, Paginator, set_params};

/// Follows `cursorPath`; remembers the last cursor so a provider that repeats one cannot loop.
#[derive(Default)]
pub(super) struct CursorPaginator {
    last: Option<String>,
}

impl Paginator for CursorPaginator {
    fn first(&mut self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError> {
        set_params(req, pg, None)
    }

    fn next(
        &mut self,
        pg: &Pagination,
        page: &Fetched<'_>,
        mut req: reqwest::Request,
    ) -> Result<Option<reqwest::Request>, ActionError> {
        let has_more = pg.has_more_path.as_ref().and_then(|p| p.first(page.body));
        if has_more == Some(&Value::Bool(false)) {
            return Ok(None);
        }
        let found = pg.cursor_path.as_ref().and_then(|p| p.first(page.body));
        let (cursor, sent) = match found {
            Some(Value::String(s)) if !s.is_empty() => (s.clone(), Value::String(s.clone())),
            Some(Value::Number(n)) => (n.to_string(), Value::Number(n.clone())),
            _ => return Ok(None),
        };
        if self.last.as_deref() == Some(cursor.as_str()) {
            tracing::warn!("pagination: the provider repeated a cursor; stopping");
            return Ok(None);
        }
        let param = pg.cursor_param.as_deref().map(|p| (p, sent));
        self.last = Some(cursor);
        set_params(&mut req, pg, param)?;
        Ok(Some(req))
    }
}
