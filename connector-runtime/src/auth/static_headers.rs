//! The strategy of the header-based types (basic, bearer, api_key_header, headers): fixed
//! headers computed once.

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::strategy::AuthStrategy;
use crate::error::ActionError;

/// Fixed headers, computed once when the instance's client is built.
pub struct StaticHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl StaticHeaders {
    /// Headers whose values are already marked sensitive.
    pub(crate) fn new(headers: Vec<(HeaderName, HeaderValue)>) -> StaticHeaders {
        StaticHeaders { headers }
    }
}

impl std::fmt::Debug for StaticHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.headers.iter().map(|(n, _)| n.as_str()))
            .finish()
    }
}

#[async_trait]
impl AuthStrategy for StaticHeaders {
    async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
        for (name, value) in &self.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(())
    }

    /// The wire forms, which the configured secrets alone do not match: `base64(user:pass)`
    /// is not the encoding of either part.
    fn runtime_secrets(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, value) in &self.headers {
            let Ok(v) = value.to_str() else { continue };
            out.push(v.to_string());
            if name == AUTHORIZATION
                && let Some((_, credentials)) = v.split_once(' ')
            {
                out.push(credentials.trim().to_string());
            }
        }
        out
    }
}
