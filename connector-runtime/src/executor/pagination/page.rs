//! Page-number pagination: `pageParam` carries the page number from `startPage` (default 1);
//! a short page or reaching the total at `totalPath` ends the listing.

use connector_spec::Pagination;
use serde_json::Value;

use crate::error::ActionError;

use super::{Fetched, Paginator, more_after, set_params};

/// The current page number and the records read so far.
pub(super) struct PagePaginator {
    page: u64,
    seen: u64,
}

impl PagePaginator {
    pub(super) fn new(pg: &Pagination) -> PagePaginator {
        PagePaginator {
            page: pg.start_page.unwrap_or(1),
            seen: 0,
        }
    }

    fn set(&self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError> {
        let param = pg
            .page_param
            .as_deref()
            .map(|p| (p, Value::from(self.page)));
        set_params(req, pg, param)
    }
}

impl Paginator for PagePaginator {
    fn first(&mut self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError> {
        self.set(pg, req)
    }

    fn next(
        &mut self,
        pg: &Pagination,
        page: &Fetched<'_>,
        mut req: reqwest::Request,
    ) -> Result<Option<reqwest::Request>, ActionError> {
        self.seen += page.got;
        if !more_after(pg, page, self.seen) {
            return Ok(None);
        }
        self.page += 1;
        self.set(pg, &mut req)?;
        Ok(Some(req))
    }
}
