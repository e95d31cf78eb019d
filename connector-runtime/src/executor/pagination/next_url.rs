//! Next-URL pagination: the next page's full URL is in the reply body at `nextUrlPath`
//! (Microsoft Graph's and OData's `@odata.nextLink`). The next request is a copy of the one
//! that fetched the page with its URL replaced (resolved against it when relative); the URL
//! carries every query parameter already, so the page size is only sent on the first
//! request. A URL on another origin is refused: the copy carries the user's credentials.

use connector_spec::Pagination;
use serde_json::Value;

use super::{Fetched, Paginator, set_params};
use crate::error::ActionError;

/// Follows `nextUrlPath`; remembers the last URL so a provider that repeats one cannot loop.
#[derive(Default)]
pub(super) struct NextUrlPaginator {
    last: Option<reqwest::Url>,
}

impl Paginator for NextUrlPaginator {
    fn first(&mut self, pg: &Pagination, req: &mut reqwest::Request) -> Result<(), ActionError> {
        set_params(req, pg, None)
    }

    fn next(
        &mut self,
        pg: &Pagination,
        page: &Fetched<'_>,
        mut req: reqwest::Request,
    ) -> Result<Option<reqwest::Request>, ActionError> {
        let found = pg.next_url_path.as_ref().and_then(|p| p.first(page.body));
        let target = match found {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
            _ => return Ok(None),
        };
        let url = next_url(req.url(), target)?;
        if self.last.as_ref() == Some(&url) {
            tracing::warn!("pagination: the provider repeated a next URL; stopping");
            return Ok(None);
        }
        self.last = Some(url.clone());
        *req.url_mut() = url;
        Ok(Some(req))
    }
}

/// `target` resolved against the URL of the request that fetched the page, on its origin.
/// The messages never quote the URL: its query may carry a token.
fn next_url(current: &reqwest::Url, target: &str) -> Result<reqwest::Url, ActionError> {
    same_origin_next(current, target, "the reply's next page URL (`nextUrlPath`)")
}

/// A next page's `target` (named `what` in errors) resolved against `current`, refused when
/// it does not parse or leaves `current`'s origin: the next request is a copy of this one,
/// credentials included. Shared with `link_header`.
pub(super) fn same_origin_next(
    current: &reqwest::Url,
    target: &str,
    what: &str,
) -> Result<reqwest::Url, ActionError> {
    let url = current.join(target).map_err(|e| {
        ActionError::system(
            "invalid_response",
            format!("{what} is not a valid URL: {e}"),
        )
    })?;
    if url.origin() != current.origin() {
        return Err(ActionError::system(
            "invalid_response",
            format!(
                "{what} is on another origin (scheme, host or port) than the request's; it is \
                 not followed, so the credentials stay with the provider"
            ),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    #[test]
    fn absolute_and_relative_targets_on_the_same_origin_are_followed() {
        let cur = url("https://graph.example.com/v1.0/items?$top=2");
        assert_eq!(
            next_url(&cur, "https://graph.example.com/v1.0/items?$skiptoken=x")
                .unwrap()
                .as_str(),
            "https://graph.example.com/v1.0/items?$skiptoken=x"
        );
        assert_eq!(
            next_url(&cur, "/v1.0/items?page=2").unwrap().as_str(),
            "https://graph.example.com/v1.0/items?page=2"
        );
    }

    #[test]
    fn another_scheme_host_or_port_is_refused_without_quoting_the_url() {
        let cur = url("https://graph.example.com/v1.0/items");
        for other in [
            "http://graph.example.com/v1.0/items?token=s3cret",
            "https://evil.example.com/v1.0/items?token=s3cret",
            "https://graph.example.com:8443/v1.0/items?token=s3cret",
            "//evil.example.com/items?token=s3cret",
        ] {
            let e = next_url(&cur, other).unwrap_err();
            assert_eq!(e.code, "invalid_response", "{other}");
            assert!(e.message.contains("another origin"), "{}", e.message);
            assert!(!e.message.contains("s3cret"), "{}", e.message);
        }
    }

    #[test]
    fn a_target_that_does_not_parse_is_invalid_response() {
        let cur = url("https://graph.example.com/v1.0/items");
        let e = next_url(&cur, "http://[::1").unwrap_err();
        assert_eq!(e.code, "invalid_response");
    }
}
