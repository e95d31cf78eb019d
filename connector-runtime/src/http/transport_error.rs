//! Transport errors as typed [`ActionError`]s, described without their URL (a query string
//! may carry an API key).

use connector_spec::ErrorClass;

use crate::error::ActionError;

/// A reqwest error described without its URL (which may carry an API key).
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_connect() {
        return connect_failure(e);
    }
    strip_urls(&chain(e))
}

/// A connection that could not be made: to which origin (`scheme://host:port`, never a path
/// or query), and why only when the reason is above TCP (TLS, DNS). A refused connection, a
/// reset and a timeout all read "could not connect to ...", so the text does not tell a
/// closed port from a filtered one.
fn connect_failure(e: &reqwest::Error) -> String {
    let target = e
        .url()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| "the server".into());
    if e.is_timeout() || tcp_failure(e) {
        format!("could not connect to {target}")
    } else {
        format!("could not connect to {target}: {}", strip_urls(&chain(e)))
    }
}

/// Whether a TCP-level failure is somewhere in the error's source chain.
fn tcp_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::TimedOut
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
                    | K::NotConnected
            )
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Classify a transport error. The URL is removed: it may carry a query-string key.
pub(crate) fn from_reqwest(e: &reqwest::Error) -> ActionError {
    if let Some(refusal) = crate::egress::find_refusal(e) {
        return crate::egress::refused(refusal);
    }
    let detail = strip_urls(&chain(e));
    if e.is_connect() {
        ActionError::connection_failed(describe_reqwest(e))
    } else if e.is_timeout() {
        ActionError::timeout(format!("the request timed out: {detail}"))
    } else if e.is_redirect() {
        ActionError::new(
            ErrorClass::System,
            "too_many_redirects",
            format!("redirect limit reached: {detail}"),
        )
    } else if e.is_body() || e.is_decode() {
        ActionError::connection_failed(format!(
            "the connection failed while reading the reply: {detail}"
        ))
    } else if e.is_request() {
        ActionError::connection_failed(format!("the request failed: {detail}"))
    } else {
        ActionError::system("http_client", format!("HTTP client error: {detail}"))
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        source = s.source();
    }
    msg
}

fn strip_urls(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            let t = w.trim_matches(|c| c == '(' || c == ')');
            if t.starts_with("http://") || t.starts_with("https://") {
                "<url>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_stripped_from_transport_messages() {
        assert_eq!(
            strip_urls("error sending request for url (http://x/?api_key=abc)"),
            "error sending request for url <url>"
        );
    }
}
