//! The `auth` section: each auth type once, one recommendation, defaults that fit the type
//! (a string default may be a template over `config`, checked like other templates).

use serde_json::Value;

use super::{Pending, TemplateScope, values};
use crate::auth::AuthTypeId;
use crate::decode::{Decoder, suggest};
use crate::deserialize::from_node;
use crate::diagnostic::{Code, Diagnostic};
use crate::yaml::Node;

/// The id of an `auth.types` entry, bare (`bearer`) or in a mapping, with its node.
pub(super) fn entry_id(item: &Node) -> Option<(AuthTypeId, &Node)> {
    let id_node = if item.as_map().is_some() {
        item.get("type")?
    } else {
        item
    };
    Some((from_node(id_node).ok()?, id_node))
}

pub fn check(d: &mut Decoder, p: &mut Pending, auth: &Node) {
    if let Some(types) = auth.get("types")
        && let Some(items) = types.as_seq()
    {
        if items.is_empty() {
            d.error(
                Code::InvalidValue,
                types.span,
                "`auth.types` must list at least one auth type",
            )
            .help = Some("use `- none` for connectors without credentials".into());
        }
        check_entries(d, p, items);
    }
    if let Some(h) = auth.get("headers") {
        values::check_header_names(d, h);
        p.templates_in_values(h, &TemplateScope::Connection);
    }
    if let Some(a) = auth.get("account") {
        check_account(d, p, auth, a);
    }
}

/// `auth.account`: a per-user auth type to get the values from, names that templates can
/// read, each name once, JSON paths that parse, an absolute discovery URL over `config`.
fn check_account(d: &mut Decoder, p: &mut Pending, auth: &Node, account: &Node) {
    let per_user = auth
        .get("types")
        .and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(entry_id)
        .any(|(id, _)| id.auth_mode() == crate::auth::AuthMode::PerUser);
    if !per_user {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                account.span,
                "account values come from a person's authorization, and no auth type here is \
                 per user",
            )
            .with_help("add `oauth_authorization_code` (or `ears`) to `auth.types`"),
        );
    }
    let discovery = account.get("discovery");
    let maps = [
        account.get("fromTokenResponse"),
        discovery.and_then(|n| n.get("values")),
    ];
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in maps
        .iter()
        .flatten()
        .flat_map(|m| m.as_map().unwrap_or_default())
    {
        let Some(name) = key.as_str() else { continue };
        let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plain {
            d.error(
                Code::InvalidValue,
                key.span,
                format!("account value name `{name}`: use letters, digits and `_`, starting with a letter"),
            );
        } else if seen.iter().any(|s| s == name) {
            d.error(
                Code::Conflict,
                key.span,
                format!("account value `{name}` is declared twice"),
            );
        }
        seen.push(name.to_string());
        values::check_json_path(d, value, &format!("`account.{name}`"));
    }
    if let Some(url) = discovery.and_then(|n| n.get("url")) {
        values::check_url_template(d, url, "`account.discovery.url`");
        p.template(url, &TemplateScope::AuthDefault);
    }
}

fn check_entries(d: &mut Decoder, p: &mut Pending, items: &[Node]) {
    let mut seen: Vec<AuthTypeId> = Vec::new();
    let mut recommended = false;
    for item in items {
        let Some((id, id_node)) = entry_id(item) else {
            continue;
        };
        if seen.contains(&id) {
            d.push(
                Diagnostic::error(
                    Code::DuplicateAuthType,
                    id_node.span,
                    format!("auth type `{id}` is listed twice"),
                )
                .with_label("second entry"),
            );
            continue;
        }
        seen.push(id);
        if item
            .get("recommended")
            .and_then(|n| from_node::<bool>(n).ok())
            == Some(true)
        {
            if recommended {
                d.error(
                    Code::Conflict,
                    item.span,
                    "only one auth type may be `recommended`",
                );
            }
            recommended = true;
        }
        if let Some(defaults) = item.get("defaults") {
            check_defaults(d, p, id, defaults);
        }
    }
}

/// `defaults` name configuration fields of the auth type, with values its schema accepts. A
/// string default with template syntax is rendered over `config` when an instance is created,
/// so its schema is checked then; here its references are noted for [`super::resolve`] and a
/// `format: uri` field's template must still read as an http(s) URL.
fn check_defaults(d: &mut Decoder, p: &mut Pending, id: AuthTypeId, defaults: &Node) {
    let schema = id.config_schema();
    let empty = serde_json::Map::new();
    let props = schema["properties"].as_object().unwrap_or(&empty);
    for (k, v) in defaults.as_map().unwrap_or_default() {
        let Some(key) = k.as_str() else { continue };
        match props.get(key) {
            None => {
                let help = match suggest(key, props.keys().map(String::as_str)) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None if props.is_empty() => {
                        format!("`{id}` has no configuration fields to default")
                    }
                    None => format!(
                        "its fields are: {}",
                        props.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                };
                d.push(
                    Diagnostic::error(
                        Code::UnknownKey,
                        k.span,
                        format!("auth type `{id}` has no config field `{key}`"),
                    )
                    .with_label("unknown field")
                    .with_help(help),
                );
            }
            Some(prop) if v.as_str().is_some_and(crate::template::is_template) => {
                if prop.get("format").and_then(Value::as_str) == Some("uri") {
                    values::check_url_template(d, v, &format!("the default for `{key}`"));
                }
                p.template(v, &TemplateScope::AuthDefault);
            }
            Some(prop) if !jsonschema::draft202012::is_valid(prop, &v.to_json()) => {
                d.error(
                    Code::InvalidValue,
                    v.span,
                    format!(
                        "default for `{key}` does not match its schema ({})",
                        short_schema(prop)
                    ),
                );
            }
            // `headerName`, `idHeaderName`, `keyHeaderName`: an HTTP header name.
            Some(_) if key.ends_with("eaderName") => values::check_header_name(d, v),
            Some(_) => {}
        }
    }
}

fn short_schema(schema: &Value) -> String {
    if let Some(e) = schema.get("enum") {
        return format!("one of {e}");
    }
    match schema.get("type") {
        Some(Value::String(t)) => format!("a {t}"),
        _ => "see the auth type reference".into(),
    }
}
