//! What every request of an instance starts from: the spec's `baseUrl` and `auth.headers`,
//! rendered once, when the instance is built, with its config and secrets. The validator
//! holds those templates to `config` and `secrets` (never an action's input), so one
//! rendering serves every call; declarative actions and `ctx.http()` read the same one.

use connector_spec::ConnectorSpec;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::error::ActionError;
use crate::secrets::{Redactor, Secrets};
use crate::template::Renderer;

/// The instance-level templates: `config` and `secrets` as template values, built once.
#[derive(Clone, Debug)]
pub(crate) struct InstanceScope {
    pub config: minijinja::Value,
    pub secrets: minijinja::Value,
}

impl InstanceScope {
    pub fn new(config: &Map<String, Value>, secrets: &Secrets) -> InstanceScope {
        InstanceScope {
            config: minijinja::Value::from_serialize(config),
            secrets: minijinja::Value::from_serialize(secrets.expose()),
        }
    }

    /// Render an instance-level template (`baseUrl`, `auth.headers`, a URL in config).
    pub fn render(&self, template: &str) -> Result<String, ActionError> {
        let ctx = minijinja::context! {
            config => self.config.clone(),
            secrets => self.secrets.clone(),
        };
        Renderer::new().render_str(template, &ctx)
    }
}

/// The rendered `baseUrl` and `auth.headers` of one instance. A template that does not
/// render is kept as its error, returned by every request that needs it.
#[derive(Clone, Debug)]
pub(crate) struct RequestBase {
    base_url: Option<Result<String, ActionError>>,
    headers: Result<Vec<(HeaderName, HeaderValue)>, ActionError>,
}

impl RequestBase {
    pub fn render(spec: &ConnectorSpec, scope: &InstanceScope, redactor: &Redactor) -> Self {
        let scrub = |e: ActionError| redactor.redact_error(e);
        RequestBase {
            base_url: spec
                .base_url
                .as_deref()
                .map(|t| scope.render(t).map_err(scrub)),
            headers: spec
                .auth
                .headers
                .iter()
                .map(|(name, template)| {
                    let value = scope.render(template)?;
                    header(name, template, &value)
                })
                .collect::<Result<_, _>>()
                .map_err(scrub),
        }
    }

    /// The rendered `baseUrl`; `Ok(None)` when the spec has none.
    pub fn base_url(&self) -> Result<Option<&str>, ActionError> {
        match &self.base_url {
            None => Ok(None),
            Some(Ok(url)) => Ok(Some(url)),
            Some(Err(e)) => Err(e.clone()),
        }
    }

    /// The rendered `auth.headers`, in the spec's order.
    pub fn headers(&self) -> Result<&[(HeaderName, HeaderValue)], ActionError> {
        self.headers.as_deref().map_err(Clone::clone)
    }
}

/// A header named `name` with the rendered `value` of `template`. A header built from a
/// secret, and any `Authorization`, is marked sensitive: it stays out of the HTTP stack's
/// debug output.
pub(crate) fn header(
    name: &str,
    template: &str,
    value: &str,
) -> Result<(HeaderName, HeaderValue), ActionError> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        ActionError::system("invalid_spec", format!("`{name}` is not a header name"))
    })?;
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        ActionError::user(
            "invalid_header",
            format!("header `{name}` renders to a value not allowed in HTTP"),
        )
    })?;
    value.set_sensitive(template.contains("secrets.") || name == AUTHORIZATION);
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(yaml_tail: &str) -> ConnectorSpec {
        let text = format!(
            "id: .t\ndisplayName: T\ndescription: d\nminimumLicense: basic\n{yaml_tail}\nactions:\n  ping:\n    description: p\n    scope: read\n    handler: code\n"
        );
        let loaded = connector_spec::load_str("t.yaml", &text, &Default::default());
        loaded
            .spec
            .clone()
            .unwrap_or_else(|| panic!("{}", loaded.render(false)))
    }

    fn scope(config: Value, secrets: Value) -> InstanceScope {
        let secrets = Secrets::new(secrets.as_object().cloned().unwrap_or_default());
        InstanceScope::new(config.as_object().unwrap(), &secrets)
    }

    #[test]
    fn base_url_and_headers_render_once_with_config_and_secrets() {
        let spec = spec(
            "baseUrl: \"{{ config.apiUrl }}/v2\"\nauth:\n  types: [none]\n  headers:\n    \
             Authorization: \"GenieKey {{ secrets.key }}\"\n    X-Tenant: \"{{ config.tenant }}\"\n\
             config:\n  type: object\n  properties:\n    apiUrl: { type: string, maxLength: 99 }\n    \
             tenant: { type: string, maxLength: 9 }\nsecrets:\n  type: object\n  properties:\n    \
             key: { type: string, maxLength: 99 }",
        );
        let scope = scope(
            json!({"apiUrl": "https://api.example", "tenant": "t1"}),
            json!({"key": "canary-7f2e"}),
        );
        let base = RequestBase::render(&spec, &scope, &Redactor::default());
        assert_eq!(base.base_url().unwrap(), Some("https://api.example/v2"));
        let headers = base.headers().unwrap();
        assert_eq!(headers[0].0, AUTHORIZATION);
        assert_eq!(headers[0].1, "GenieKey canary-7f2e");
        assert!(headers[0].1.is_sensitive());
        assert_eq!(
            (headers[1].0.as_str(), headers[1].1.to_str().unwrap()),
            ("x-tenant", "t1")
        );
        assert!(!headers[1].1.is_sensitive());
    }

    #[test]
    fn a_header_value_not_allowed_in_http_is_kept_as_its_error() {
        let spec = spec(
            "auth:\n  types: [none]\n  headers:\n    X-Bad: \"{{ config.v }}\"\nconfig:\n  \
             type: object\n  properties:\n    v: { type: string, maxLength: 99 }",
        );
        let base = RequestBase::render(
            &spec,
            &scope(json!({"v": "a\nb"}), json!({})),
            &Redactor::default(),
        );
        assert_eq!(base.base_url().unwrap(), None);
        let e = base.headers().unwrap_err();
        assert_eq!(e.code, "invalid_header");
        assert!(e.message.contains("x-bad"), "{e}");
    }
}
