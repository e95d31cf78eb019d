//! Offset pagination: `offsetParam` carries how many records were already read; a short page
//! or reaching the total at `totalPath` ends the listing.

use connector_spec::Pagination;
use serde_json::Value;

use crate::error::ActionError;

use super::{Fetched, Paginator, more_after, set_params};

/// Counts the records read so far.
#[derive(Default)]
pub(super) struct OffsetPaginator {
    offset: u64,
}

impl OffsetPaginator {
    fn set(&self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError> {
        let param = pg
            .offset_param
            .as_deref()
            .map(|p| (p, Value::from(self.offset)));
        set_params(req, pg, param)
    }
}

impl Paginator for OffsetPaginator {
    fn first(&mut self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError> {
        self.set(pg, req)
    }

    fn next(
        &mut self,
        pg: &Pagination,
        page: &Fetched<'_>,
        mut req: reqwest::Request,
    ) -> Result<Option<reqwest::Request>, ActionError> {
        self.offset += page.got;
        if !more_after(pg, page, self.offset) {
            return Ok(None);
        }
        self.set(pg, &mut req)?;
        Ok(Some(req))
    }
}
