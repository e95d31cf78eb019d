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
    base_url: Option<Base>,
    headers: Result<Vec<(HeaderName, HeaderValue)>, ActionError>,
}

/// A `baseUrl` rendered with the instance, or, when it reads the caller's account values
/// (`account.*`), kept as its template for each call to render.
#[derive(Clone, Debug)]
enum Base {
    Rendered(Result<String, ActionError>),
    PerCall(String),
}

impl RequestBase {
    pub fn render(spec: &ConnectorSpec, scope: &InstanceScope, redactor: &Redactor) -> Self {
        let scrub = |e: ActionError| redactor.redact_error(e);
        let per_call = spec.auth.account.is_some();
        RequestBase {
            base_url: spec
                .base_url
                .as_deref()
                .map(|t| match per_call && t.contains("account") {
                    true => Base::PerCall(t.to_string()),
                    false => Base::Rendered(scope.render(t).map_err(scrub)),
                }),
            headers: spec
                .auth
                .headers
                .iter()
                .filter_map(|(name, template)| match scope.render(template) {
                    // Empty (an optional config field left unset): the header is left out.
                    Ok(value) if value.is_empty() => None,
                    Ok(value) => Some(header(name, template, &value)),
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<_, _>>()
                .map_err(scrub),
        }
    }

    /// The rendered `baseUrl`; `Ok(None)` when the spec has none. A `baseUrl` that reads the
    /// caller's account values has no instance-wide value: [`RequestBase::base_url_with`].
    pub fn base_url(&self) -> Result<Option<&str>, ActionError> {
        match &self.base_url {
            None => Ok(None),
            Some(Base::Rendered(Ok(url))) => Ok(Some(url)),
            Some(Base::Rendered(Err(e))) => Err(e.clone()),
            Some(Base::PerCall(_)) => Err(ActionError::system(
                "per_user_base_url",
                "this connector's baseUrl depends on the caller's account values (`account.*`); \
                 declarative requests render it per call",
            )),
        }
    }

    /// The `baseUrl` for one call: the instance's, or the per-call template rendered by
    /// `render` (with the caller's account values).
    pub fn base_url_with(
        &self,
        render: impl FnOnce(&str) -> Result<String, ActionError>,
    ) -> Result<Option<String>, ActionError> {
        match &self.base_url {
            Some(Base::PerCall(t)) => render(t).map(Some),
            _ => self.base_url().map(|b| b.map(str::to_string)),
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
    fn a_header_that_renders_empty_is_left_out() {
        let spec = spec(
            "auth:\n  types: [none]\n  headers:\n    X-Org: \"{{ config.org | default('') }}\"\n    \
             Accept: application/json\nconfig:\n  type: object\n  properties:\n    \
             org: { type: string, maxLength: 99 }",
        );
        let base = RequestBase::render(&spec, &scope(json!({}), json!({})), &Redactor::default());
        let headers = base.headers().unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].0.as_str(), "accept");
        let base = RequestBase::render(
            &spec,
            &scope(json!({"org": "SOC"}), json!({})),
            &Redactor::default(),
        );
        assert_eq!(base.headers().unwrap()[0].1, "SOC");
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
