//! Per-user account values (`auth.account`): read from the token response of a person's
//! authorization and from a discovery request made right after it with the new access
//! token, then kept with that person's token ([`TokenStore::set_user_account`]) and read back
//! into the templates of their calls as `account.<name>` (Salesforce's `instance_url` as the
//! API base, the Atlassian cloud id of `accessible-resources`).
//!
//! [`TokenStore::set_user_account`]: crate::store::TokenStore::set_user_account

use connector_spec::path::JsonPath;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use serde_json::{Map, Value};

use crate::egress::EgressClient;
use crate::error::ActionError;
use crate::instance::ConnectorInstance;
use crate::oauth::token::{MAX_TOKEN_RESPONSE, TokenSet};
use secrecy::ExposeSecret;

/// Longest account value kept (a URL or an id).
const MAX_VALUE_LEN: usize = 2048;

/// How one instance finds its users' account values.
#[derive(Debug, Clone)]
pub(crate) struct AccountValues {
    from_token: Vec<(String, JsonPath)>,
    discovery: Option<Discovery>,
}

#[derive(Debug, Clone)]
struct Discovery {
    url: reqwest::Url,
    values: Vec<(String, JsonPath)>,
}

impl AccountValues {
    /// The instance's account values, its discovery URL rendered over its config; `None`
    /// when the spec declares none.
    pub fn of(instance: &ConnectorInstance) -> Result<Option<AccountValues>, ActionError> {
        let Some(spec) = &instance.spec.auth.account else {
            return Ok(None);
        };
        let pairs = |m: &indexmap::IndexMap<String, JsonPath>| {
            m.iter().map(|(k, p)| (k.clone(), p.clone())).collect()
        };
        let discovery = match &spec.discovery {
            None => None,
            Some(d) => {
                let text = instance.scope.render(&d.url)?;
                let url = reqwest::Url::parse(text.trim()).map_err(|e| {
                    ActionError::user(
                        "invalid_config",
                        format!("`auth.account.discovery.url` is not a valid URL: {e}"),
                    )
                })?;
                Some(Discovery {
                    url,
                    values: pairs(&d.values),
                })
            }
        };
        Ok(Some(AccountValues {
            from_token: pairs(&spec.from_token_response),
            discovery,
        }))
    }

    /// The values for the person who just authorized: the token response's, then the
    /// discovery reply's. A declared value that is missing, or not a string, number or
    /// boolean, is `account_discovery_failed` naming it (never quoting the reply).
    pub async fn resolve(
        &self,
        http: &EgressClient,
        tokens: &TokenSet,
    ) -> Result<Map<String, Value>, ActionError> {
        let mut out = Map::new();
        pick(
            &tokens.reply,
            &self.from_token,
            "the token response",
            &mut out,
        )?;
        if let Some(d) = &self.discovery {
            let reply = discover(http, &d.url, tokens).await?;
            pick(&reply, &d.values, "the discovery reply", &mut out)?;
        }
        Ok(out)
    }
}

fn failed(message: String) -> ActionError {
    ActionError::auth("account_discovery_failed", message)
}

/// Copy each declared value found in `reply` into `out`.
fn pick(
    reply: &Value,
    paths: &[(String, JsonPath)],
    from: &str,
    out: &mut Map<String, Value>,
) -> Result<(), ActionError> {
    for (name, path) in paths {
        let value = match path.first(reply) {
            Some(Value::String(s)) if s.len() <= MAX_VALUE_LEN => Value::String(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.clone(),
            Some(Value::String(_)) => {
                return Err(failed(format!(
                    "account value `{name}` in {from} is longer than {MAX_VALUE_LEN} characters"
                )));
            }
            Some(_) | None => {
                return Err(failed(format!(
                    "{from} has no text, number or boolean at {path} for account value `{name}`"
                )));
            }
        };
        out.insert(name.clone(), value);
    }
    Ok(())
}

/// `GET url` with the new access token; the reply parsed as JSON, at most
/// [`MAX_TOKEN_RESPONSE`] bytes. Redirects are not followed (the token client never does).
async fn discover(
    http: &EgressClient,
    url: &reqwest::Url,
    tokens: &TokenSet,
) -> Result<Value, ActionError> {
    let mut bearer =
        HeaderValue::from_str(&format!("Bearer {}", tokens.access_token.expose_secret()))
            .map_err(|_| failed("the access token cannot be sent in a header".into()))?;
    bearer.set_sensitive(true);
    let mut resp = http
        .request(reqwest::Method::GET, url.clone())
        .header(AUTHORIZATION, bearer)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .send()
        .await
        .map_err(|e| failed(format!("the discovery request failed: {e}")))?;
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| failed(format!("the discovery reply could not be read: {e}")))?
    {
        if body.len() + chunk.len() > MAX_TOKEN_RESPONSE {
            return Err(failed(format!(
                "the discovery reply is larger than {MAX_TOKEN_RESPONSE} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        return Err(failed(format!(
            "the discovery request answered HTTP {}",
            status.as_u16()
        )));
    }
    serde_json::from_slice(&body)
        .map_err(|e| failed(format!("the discovery reply is not JSON: {e}")))
}
