//! `#[connector(...)]` on a config struct: connector metadata, config and secret fields with UI
//! hints, and reading the struct from a call's config and secrets.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::{self, Arg, Errors, check_keys};

const STRUCT_KEYS: [&str; 11] = [
    "id",
    "auth_header",
    "display_name",
    "description",
    "license",
    "features",
    "auth",
    "icon",
    "docs_url",
    "base_url",
    "crate",
];

const FIELD_KEYS: [&str; 17] = [
    "label",
    "widget",
    "placeholder",
    "help",
    "order",
    "section",
    "sensitive",
    "secret",
    "options_from",
    "when",
    "rename",
    "default",
    "skip",
    "max_length",
    "min_length",
    "pattern",
    "format",
];

/// The string formats `format = "..."` accepts: the JSON Schema 2020-12 formats the runtime's
/// validator checks.
const FORMATS: [&str; 12] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "uuid",
    "regex",
];

const LICENSES: [&str; 4] = ["basic", "gold", "platinum", "enterprise"];

/// The connector-level attribute, checked.
struct Meta {
    id: String,
    display_name: String,
    description: String,
    license: String,
    features: Vec<String>,
    auth: Vec<String>,
    icon: Option<String>,
    docs_url: Option<String>,
    base_url: Option<String>,
    /// `auth_header(name = "...", value = "...")`, repeatable: the spec's `auth.headers`.
    headers: Vec<(String, String)>,
}

/// One config or secret field.
struct Field {
    ident: syn::Ident,
    key: String,
    ty: syn::Type,
    /// `Option<T>`: the `T`.
    inner: Option<syn::Type>,
    secret: bool,
    description: Option<String>,
    ui: Vec<(String, TokenStream)>,
    default: Option<syn::Lit>,
    /// `#[field(skip)]`: not a config field; `Default::default()` when the struct is read.
    skip: bool,
    /// JSON Schema keywords from `max_length`, `min_length`, `pattern`, `format`.
    schema: Vec<(&'static str, TokenStream)>,
    /// `options_from = "..."`: the action named, checked against the impl block's actions.
    options_from: Option<(String, Span)>,
    /// `when(field = "...")`: the field named, checked against the struct's fields.
    when_field: Option<(String, Span)>,
}

/// Expand `#[connector(...)]` on a struct.
pub fn expand_struct(attr: TokenStream, mut item: syn::ItemStruct) -> TokenStream {
    let mut errors = Errors::default();
    let krate_default: syn::Path = syn::parse_quote!(::connector_runtime);
    let (meta, krate) = match args::parse_args(attr) {
        Ok(a) => parse_meta(&a, item.ident.span(), &mut errors),
        Err(e) => {
            errors.push_error(e);
            (None, None)
        }
    };
    let krate = krate.unwrap_or(krate_default);
    if !item.generics.params.is_empty() {
        errors.push(
            item.generics.span(),
            "a `#[connector]` config struct cannot be generic",
        );
    }
    let fields = parse_fields(&mut item, &mut errors);
    check_when_fields(&fields, &mut errors);
    let name = &item.ident;
    let body = match (meta, errors.is_empty()) {
        (Some(meta), true) => generate(&krate, name, &meta, &fields),
        _ => fallback(&krate, name),
    };
    let errs = errors.to_compile_errors();
    quote! {
        #item
        #errs
        #body
    }
}

fn parse_meta(all: &[Arg], at: Span, errors: &mut Errors) -> (Option<Meta>, Option<syn::Path>) {
    let before = errors.len();
    let mut m = Meta {
        id: String::new(),
        display_name: String::new(),
        description: String::new(),
        license: String::new(),
        features: Vec::new(),
        auth: Vec::new(),
        icon: None,
        docs_url: None,
        base_url: None,
        headers: Vec::new(),
    };
    let mut krate = None;
    let mut seen: Vec<String> = Vec::new();
    let (header_args, rest): (Vec<&Arg>, Vec<&Arg>) =
        all.iter().partition(|a| a.name() == "auth_header");
    for arg in header_args {
        if let Some(h) = parse_auth_header(arg, errors) {
            m.headers.push(h);
        }
    }
    let rest: Vec<Arg> = rest.into_iter().map(args::clone_arg).collect();
    for arg in check_keys(&rest, &STRUCT_KEYS, "connector", errors) {
        let key = arg.name();
        seen.push(key.clone());
        match key.as_str() {
            "id" => m.id = parse_id(arg, errors).unwrap_or(m.id),
            "display_name" => m.display_name = non_empty(arg, errors),
            "description" => m.description = non_empty(arg, errors),
            "license" => m.license = parse_license(arg, errors).unwrap_or(m.license),
            "features" => parse_features(arg, &mut m.features, errors),
            "auth" => parse_auth(arg, &mut m.auth, errors),
            "icon" => m.icon = arg.string(errors).map(|s| s.0),
            "docs_url" => m.docs_url = arg.string(errors).map(|s| s.0),
            "base_url" => m.base_url = arg.string(errors).map(|s| s.0),
            "crate" => krate = arg.path(errors),
            _ => {}
        }
    }
    check_required(all, &seen, at, errors);
    let ok = errors.len() == before;
    (ok.then_some(m), krate)
}

/// `auth_header(name = "X-Tenant", value = "{{ config.tenant }}")`: one of the headers the
/// runtime adds to every request (a template over `config` and `secrets`).
fn parse_auth_header(arg: &Arg, errors: &mut Errors) -> Option<(String, String)> {
    let items = arg.list(errors)?;
    let (mut name, mut value) = (None, None);
    for a in check_keys(items, &["name", "value"], "`auth_header`", errors) {
        match a.name().as_str() {
            "name" => name = a.string(errors),
            "value" => value = a.string(errors).map(|v| v.0),
            _ => {}
        }
    }
    match (name, value) {
        (Some((n, span)), Some(v)) => {
            if n.is_empty()
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                errors.push(span, format_args!("`{n}` is not a header name"));
            }
            Some((n, v))
        }
        _ => {
            errors.push(
                arg.span(),
                "`auth_header` needs `name` and `value`: `auth_header(name = \"X-Tenant\", value = \"{{ config.tenant }}\")`",
            );
            None
        }
    }
}

/// `id = ".acme"`: reported when invalid, but kept.
fn parse_id(arg: &Arg, errors: &mut Errors) -> Option<String> {
    let (id, span) = arg.string(errors)?;
    if let Some(problem) = id_problem(&id) {
        errors.push(span, format_args!("invalid connector id `{id}`: {problem}"));
    }
    Some(id)
}

/// `license = "..."`: reported when not one of [`LICENSES`], but kept.
fn parse_license(arg: &Arg, errors: &mut Errors) -> Option<String> {
    let (l, span) = arg.string(errors)?;
    if !LICENSES.contains(&l.as_str()) {
        errors.push(
            span,
            format_args!(
                "unknown license `{l}`; {}",
                args::one_of_help(&l, &LICENSES)
            ),
        );
    }
    Some(l)
}

/// `features = [...]`, appended to `features`; empty ids are reported.
fn parse_features(arg: &Arg, features: &mut Vec<String>, errors: &mut Errors) {
    for (f, span) in arg.strings(errors).unwrap_or_default() {
        if f.trim().is_empty() {
            errors.push(span, "a feature id cannot be empty");
        }
        features.push(f);
    }
}

/// `auth = [...]`, appended to `auth`; an empty list, unknown and repeated types are reported.
fn parse_auth(arg: &Arg, auth: &mut Vec<String>, errors: &mut Errors) {
    let names: Vec<&str> = connector_spec::AuthTypeId::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    let list = arg.strings(errors).unwrap_or_default();
    if list.is_empty() && matches!(arg.value, args::ArgValue::Array(..)) {
        errors.push(arg.span(), "`auth` must name at least one auth type");
    }
    for (a, span) in list {
        if connector_spec::AuthTypeId::parse(&a).is_none() {
            errors.push(
                span,
                format_args!("unknown auth type `{a}`; {}", args::one_of_help(&a, &names)),
            );
        } else if auth.contains(&a) {
            errors.push(span, format_args!("auth type `{a}` is listed twice"));
        }
        auth.push(a);
    }
}

/// Report the required keys that are not among the `seen` ones.
fn check_required(all: &[Arg], seen: &[String], at: Span, errors: &mut Errors) {
    // A misspelt key already got "did you mean `license`?"; do not also call `license` missing.
    let suggested: Vec<&str> = all
        .iter()
        .filter(|a| !STRUCT_KEYS.contains(&a.name().as_str()))
        .filter_map(|a| args::suggest(&a.name(), &STRUCT_KEYS))
        .collect();
    let missing: Vec<&str> = ["id", "display_name", "description", "license", "auth"]
        .into_iter()
        .filter(|k| !seen.iter().any(|s| s == k) && !suggested.contains(k))
        .collect();
    if !missing.is_empty() {
        errors.push(
            at,
            format_args!(
                "`#[connector(...)]` is missing {}: {}",
                if missing.len() == 1 {
                    "a required key"
                } else {
                    "required keys"
                },
                missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

fn non_empty(arg: &Arg, errors: &mut Errors) -> String {
    match arg.string(errors) {
        Some((s, span)) => {
            if s.trim().is_empty() {
                errors.push(span, format_args!("`{}` cannot be empty", arg.name()));
            }
            s
        }
        None => String::new(),
    }
}

/// Why a connector id is invalid (same rule as the spec loader).
fn id_problem(id: &str) -> Option<&'static str> {
    if !id.starts_with('.') {
        return Some("an id starts with `.`, e.g. `.acme`");
    }
    if id.len() < 2 || id.len() > 64 {
        return Some("an id has 1 to 63 characters after the `.`");
    }
    if !id[1..]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Some("an id uses only `A-Z a-z 0-9 . _ -`");
    }
    None
}

fn parse_fields(item: &mut syn::ItemStruct, errors: &mut Errors) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    match &mut item.fields {
        syn::Fields::Named(named) => {
            for f in named.named.iter_mut() {
                let Some(ident) = f.ident.clone() else {
                    continue;
                };
                let mut hint_attrs = Vec::new();
                f.attrs.retain(|a| {
                    if a.path().is_ident("field") {
                        hint_attrs.push(a.clone());
                        false
                    } else {
                        true
                    }
                });
                if let Some(field) = parse_field(ident, f, &hint_attrs, errors) {
                    if let Some(prev) = out
                        .iter()
                        .find(|p| !p.skip && !field.skip && p.key == field.key)
                    {
                        errors.push(
                            field.ident.span(),
                            format_args!(
                                "field `{}` has the same name `{}` as field `{}`",
                                field.ident, field.key, prev.ident
                            ),
                        );
                    }
                    out.push(field);
                }
            }
        }
        syn::Fields::Unnamed(u) => errors.push(
            u.span(),
            "a `#[connector]` config struct has named fields (or none); tuple structs have no field names for the config form",
        ),
        syn::Fields::Unit => {}
    }
    out
}

fn parse_field(
    ident: syn::Ident,
    f: &syn::Field,
    hint_attrs: &[syn::Attribute],
    errors: &mut Errors,
) -> Option<Field> {
    let mut field = Field {
        key: args::camel_case(&ident.to_string()),
        ident,
        ty: f.ty.clone(),
        inner: option_inner(&f.ty),
        secret: false,
        description: args::doc_text(&f.attrs),
        ui: Vec::new(),
        default: None,
        skip: false,
        schema: Vec::new(),
        options_from: None,
        when_field: None,
    };
    let mut seen_keys: Vec<String> = Vec::new();
    for attr in hint_attrs {
        let Some(parsed) = field_attr_args(attr, errors) else {
            continue;
        };
        for arg in check_keys(&parsed, &FIELD_KEYS, "field", errors) {
            let key = arg.name();
            if seen_keys.contains(&key) {
                errors.push(arg.key.span(), format_args!("duplicate field key `{key}`"));
                continue;
            }
            seen_keys.push(key.clone());
            apply_field_arg(&mut field, arg, key, errors);
        }
    }
    check_field_default(&field, errors);
    Some(field)
}

/// The arguments inside one `#[field(...)]`.
fn field_attr_args(attr: &syn::Attribute, errors: &mut Errors) -> Option<Vec<Arg>> {
    let list = match attr.meta.require_list() {
        Ok(l) => l.tokens.clone(),
        Err(e) => {
            errors.push_error(e);
            return None;
        }
    };
    match args::parse_args(list) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.push_error(e);
            None
        }
    }
}

/// Apply one `#[field(key = ...)]` argument to the field.
fn apply_field_arg(field: &mut Field, arg: &Arg, key: String, errors: &mut Errors) {
    match key.as_str() {
        "label" | "placeholder" | "section" => {
            if let Some((s, _)) = arg.string(errors) {
                field.ui.push((key.clone(), quote!(#s)));
            }
        }
        "help" => {
            if let Some((s, _)) = arg.string(errors) {
                field.ui.push(("helpText".into(), quote!(#s)));
            }
        }
        "widget" => {
            if let Some(w) = parse_widget(arg, errors) {
                field.ui.push(("widget".into(), quote!(#w)));
            }
        }
        "order" => {
            if let Some(n) = arg.int(errors) {
                field.ui.push(("order".into(), quote!(#n)));
            }
        }
        "sensitive" => {
            let b = arg.flag(errors);
            field.ui.push(("sensitive".into(), quote!(#b)));
        }
        "secret" => field.secret = arg.flag(errors),
        "skip" => field.skip = arg.flag(errors),
        "options_from" => {
            if let Some((a, span)) = arg.string(errors) {
                field.ui.push(("optionsFrom".into(), quote!(#a)));
                field.options_from = Some((a, span));
            }
        }
        "when" => {
            if let Some((tokens, named)) = parse_when(arg, errors) {
                field.ui.push(("when".into(), tokens));
                field.when_field = Some(named);
            }
        }
        "max_length" | "min_length" | "pattern" | "format" => {
            apply_schema_arg(field, arg, &key, errors)
        }
        "rename" => {
            if let Some((r, span)) = arg.string(errors) {
                if r.is_empty() {
                    errors.push(span, "`rename` cannot be empty");
                }
                field.key = r;
            }
        }
        "default" => {
            if let Some(l) = parse_default(arg, errors) {
                field.default = Some(l);
            }
        }
        _ => {}
    }
}

/// `max_length`, `min_length`, `pattern`, `format`: JSON Schema keywords on the field.
fn apply_schema_arg(field: &mut Field, arg: &Arg, key: &str, errors: &mut Errors) {
    match key {
        "max_length" | "min_length" => {
            if let Some(n) = arg.int(errors) {
                if n < 0 {
                    errors.push(arg.value_span(), format_args!("`{key}` cannot be negative"));
                }
                let json_key = if key == "max_length" {
                    "maxLength"
                } else {
                    "minLength"
                };
                field.schema.push((json_key, quote!(#n)));
            }
        }
        "pattern" => {
            if let Some((pattern, span)) = arg.string(errors) {
                if let Err(e) = fancy_regex::Regex::new(&pattern) {
                    errors.push(
                        span,
                        format_args!("`pattern` is not a valid regular expression: {e}"),
                    );
                }
                field.schema.push(("pattern", quote!(#pattern)));
            }
        }
        "format" => {
            if let Some((format, span)) = arg.string(errors) {
                if !FORMATS.contains(&format.as_str()) {
                    errors.push(
                        span,
                        format_args!(
                            "unknown format `{format}`; {}",
                            args::one_of_help(&format, &FORMATS)
                        ),
                    );
                }
                field.schema.push(("format", quote!(#format)));
            }
        }
        _ => {}
    }
}

/// `widget = "..."`: reported when not a known widget, but kept.
fn parse_widget(arg: &Arg, errors: &mut Errors) -> Option<String> {
    let (w, span) = arg.string(errors)?;
    let widgets = connector_spec::schema_check::WIDGETS;
    if !widgets.contains(&w.as_str()) {
        errors.push(
            span,
            format_args!("unknown widget `{w}`; {}", args::one_of_help(&w, &widgets)),
        );
    }
    Some(w)
}

/// `default = <literal>`: a string, number or boolean.
fn parse_default(arg: &Arg, errors: &mut Errors) -> Option<syn::Lit> {
    match &arg.value {
        args::ArgValue::Lit(
            l @ (syn::Lit::Str(_) | syn::Lit::Int(_) | syn::Lit::Bool(_) | syn::Lit::Float(_)),
        ) => Some(l.clone()),
        _ => {
            errors.push(
                arg.span(),
                "`default` takes a string, number or boolean literal",
            );
            None
        }
    }
}

/// A `default` needs an `Option` field that is not secret.
fn check_field_default(field: &Field, errors: &mut Errors) {
    if field.default.is_some() && field.inner.is_none() {
        errors.push(
            field.ident.span(),
            format_args!(
                "field `{}` has a `default` but is not an `Option`; a default only applies to optional fields",
                field.ident
            ),
        );
    }
    if field.secret && field.default.is_some() {
        errors.push(
            field.ident.span(),
            "a secret field cannot have a `default`: defaults are published in the schema",
        );
    }
}

/// `when(...)`: the `x-ui.when` object and the field it names.
fn parse_when(arg: &Arg, errors: &mut Errors) -> Option<(TokenStream, (String, Span))> {
    let items = arg.list(errors)?;
    let mut field = None;
    let mut test = None;
    for a in check_keys(
        items,
        &["field", "equals", "not_equals", "in"],
        "`when`",
        errors,
    ) {
        match a.name().as_str() {
            "field" => field = a.string(errors),
            "equals" | "not_equals" => {
                let json_key = if a.name() == "equals" {
                    "equals"
                } else {
                    "notEquals"
                };
                match &a.value {
                    args::ArgValue::Lit(l) => {
                        if test.is_some() {
                            errors.push(
                                a.key.span(),
                                "`when` takes one of `equals`, `not_equals`, `in`",
                            );
                        }
                        test = Some(quote!(#json_key: #l));
                    }
                    _ => errors.push(a.span(), "expected a literal"),
                }
            }
            "in" => match &a.value {
                args::ArgValue::Array(items, _) => {
                    if test.is_some() {
                        errors.push(
                            a.key.span(),
                            "`when` takes one of `equals`, `not_equals`, `in`",
                        );
                    }
                    test = Some(quote!("in": [#(#items),*]));
                }
                _ => errors.push(a.span(), "`in` takes a list: `in = [\"a\", \"b\"]`"),
            },
            _ => {}
        }
    }
    match (field, test) {
        (Some((f, span)), Some(t)) => Some((quote!({ "field": #f, #t }), (f, span))),
        _ => {
            errors.push(
                arg.span(),
                "`when` needs `field` and one of `equals`, `not_equals`, `in`: `when(field = \"method\", equals = \"put\")`",
            );
            None
        }
    }
}

/// Each `when(field = ...)` names a field of this struct (config or secret) or `authType`, as
/// the spec loader requires, reported at the name.
fn check_when_fields(fields: &[Field], errors: &mut Errors) {
    let keys: Vec<&str> = fields
        .iter()
        .filter(|f| !f.skip)
        .map(|f| f.key.as_str())
        .chain(["authType"])
        .collect();
    for (name, span) in fields.iter().filter_map(|f| f.when_field.as_ref()) {
        if !keys.contains(&name.as_str()) {
            errors.push(
                *span,
                format_args!(
                    "`when` names field `{name}`, which is not a field of this connector; {}",
                    args::one_of_help(name, &keys)
                ),
            );
        }
    }
}

/// `Option<T>` -> `T`.
pub fn option_inner(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(a) = &seg.arguments else {
        return None;
    };
    match a.args.first()? {
        syn::GenericArgument::Type(t) if a.args.len() == 1 => Some(t.clone()),
        _ => None,
    }
}

fn generate(krate: &syn::Path, name: &syn::Ident, m: &Meta, fields: &[Field]) -> TokenStream {
    let p = quote!(#krate::__private);
    let c = quote!(#krate::__private);
    let Meta {
        id,
        display_name,
        description,
        license,
        features,
        auth,
        ..
    } = m;
    let optional = [
        ("icon", &m.icon),
        ("docsUrl", &m.docs_url),
        ("baseUrl", &m.base_url),
    ]
    .into_iter()
    .filter_map(|(k, v)| {
        v.as_ref()
            .map(|v| quote!(doc.insert(#k.into(), #p::serde_json::json!(#v));))
    });
    let header_names = m.headers.iter().map(|(n, _)| n);
    let header_values = m.headers.iter().map(|(_, v)| v);
    let config = fields_schema(krate, fields, false);
    let secrets = fields_schema(krate, fields, true);
    let reads = fields.iter().map(|f| field_read(krate, f));
    let writes = fields
        .iter()
        .filter(|f| !f.skip)
        .map(|f| field_write(krate, f));
    let action_checks = fields
        .iter()
        .filter_map(|f| f.options_from.as_ref())
        .map(|(action, span)| options_from_check(krate, name, action, *span));
    quote! {
        #(#action_checks)*

        impl #c::ConnectorConfig for #name {
            fn spec_document() -> #p::serde_json::Map<::std::string::String, #p::serde_json::Value> {
                let mut doc = #p::serde_json::Map::new();
                doc.insert("id".into(), #p::serde_json::json!(#id));
                doc.insert("displayName".into(), #p::serde_json::json!(#display_name));
                doc.insert("description".into(), #p::serde_json::json!(#description));
                doc.insert("minimumLicense".into(), #p::serde_json::json!(#license));
                doc.insert("supportedFeatureIds".into(), #p::serde_json::json!([#(#features),*]));
                #(#optional)*
                doc.insert("auth".into(), #p::serde_json::json!({
                    "types": [#({ "type": #auth }),*],
                    "headers": { #(#header_names: #header_values),* },
                }));
                doc.insert("config".into(), #config);
                doc.insert("secrets".into(), #secrets);
                doc
            }

            fn from_context(
                ctx: &#krate::ActionContext,
            ) -> ::core::result::Result<Self, #krate::ActionError> {
                let _ = ctx;
                ::core::result::Result::Ok(#name { #(#reads),* })
            }

            fn to_parts(&self) -> ::core::result::Result<#c::InstanceParts, #krate::ActionError> {
                #[allow(unused_mut)]
                let mut config = #p::serde_json::Map::new();
                #[allow(unused_mut)]
                let mut secrets = #p::serde_json::Map::new();
                #(#writes)*
                ::core::result::Result::Ok((config, secrets))
            }
        }
    }
}

/// The JSON schema of the config form (`secret == false`) or of the secrets form: one
/// property per field of that kind, required unless the field is an `Option`.
fn fields_schema(krate: &syn::Path, fields: &[Field], secret: bool) -> TokenStream {
    let p = quote!(#krate::__private);
    let mut props = Vec::new();
    let mut required = Vec::new();
    for f in fields.iter().filter(|f| f.secret == secret && !f.skip) {
        props.push(field_property(krate, f));
        if f.inner.is_none() {
            required.push(&f.key);
        }
    }
    quote! {{
        #[allow(unused_mut)]
        let mut props = #p::serde_json::Map::new();
        #(#props)*
        let mut s = #p::serde_json::Map::new();
        s.insert("type".into(), #p::serde_json::json!("object"));
        s.insert("additionalProperties".into(), #p::serde_json::json!(false));
        let required: &[&str] = &[#(#required),*];
        if !required.is_empty() {
            s.insert("required".into(), #p::serde_json::json!(required));
        }
        s.insert("properties".into(), #p::serde_json::Value::Object(props));
        #p::serde_json::Value::Object(s)
    }}
}

/// The block inserting one field's schema into `props`.
fn field_property(krate: &syn::Path, f: &Field) -> TokenStream {
    let p = quote!(#krate::__private);
    let c = quote!(#krate::__private);
    let key = &f.key;
    let ty = f.inner.as_ref().unwrap_or(&f.ty);
    let desc = match &f.description {
        Some(d) => quote!(::core::option::Option::Some(#d)),
        None => quote!(::core::option::Option::None),
    };
    let ui_keys = f.ui.iter().map(|(k, _)| k);
    let ui_vals = f.ui.iter().map(|(_, v)| v);
    let default = f.default.as_ref().map(|d| {
        quote!(if let #p::serde_json::Value::Object(m) = &mut s {
            m.insert("default".into(), #p::serde_json::json!(#d));
        })
    });
    let keywords = f.schema.iter().map(|(k, v)| {
        quote!(if let #p::serde_json::Value::Object(m) = &mut s {
            m.insert(#k.into(), #p::serde_json::json!(#v));
        })
    });
    let keywords = quote!(#(#keywords)*);
    quote_spanned! {f.ty.span()=>
        {
            #[allow(unused_mut)]
            let mut s = #c::field_schema::<#ty>(#desc, #p::serde_json::json!({ #(#ui_keys: #ui_vals),* }));
            #default
            #keywords
            props.insert(#key.into(), s);
        }
    }
}

/// `ident: value` of one field in `from_context`: from the config, the secrets, or the default
/// for a skipped field.
fn field_read(krate: &syn::Path, f: &Field) -> TokenStream {
    let c = quote!(#krate::__private);
    let ident = &f.ident;
    let key = &f.key;
    let ty = &f.ty;
    if f.skip {
        quote_spanned!(f.ty.span()=> #ident: ::core::default::Default::default())
    } else if f.secret {
        quote_spanned!(f.ty.span()=> #ident: #c::secret_field::<#ty>(&ctx.secrets, #key)?)
    } else {
        quote_spanned!(f.ty.span()=> #ident: #c::config_field::<#ty>(&ctx.config, #key)?)
    }
}

/// A compile-time check that `options_from = "<action>"` names an action of the connector's
/// `#[connector]` impl block (through `ConnectorActions`), reported at the action's name.
fn options_from_check(
    krate: &syn::Path,
    name: &syn::Ident,
    action: &str,
    span: Span,
) -> TokenStream {
    let c = quote!(#krate::__private);
    let message = format!(
        "`options_from` names `{action}`, which is not an action of this connector: name one of the `#[action]` methods of its `#[connector]` impl block, by action name (`listProjects` for `fn list_projects`, or its `name = \"...\"`)"
    );
    quote_spanned! {span=>
        const _: () = {
            if <#name as #c::ConnectorActions>::KNOWN
                && !#c::has_action(<#name as #c::ConnectorActions>::ACTIONS, #action)
            {
                ::core::panic!(#message)
            }
        };
    }
}

/// `to_parts` for one field: a secret field's value into `secrets`, any other into `config`.
fn field_write(krate: &syn::Path, f: &Field) -> TokenStream {
    let c = quote!(#krate::__private);
    let ident = &f.ident;
    let key = &f.key;
    if f.secret {
        quote_spanned! {f.ty.span()=>
            if let ::core::option::Option::Some(v) = #c::SecretField::secret_value(&self.#ident) {
                secrets.insert(#key.into(), v);
            }
        }
    } else {
        quote_spanned! {f.ty.span()=>
            if let ::core::option::Option::Some(v) = #c::config_value(#key, &self.#ident)? {
                config.insert(#key.into(), v);
            }
        }
    }
}

/// Emitted when the attribute has errors, so that the impl block and callers still type-check
/// and the user sees only the real mistakes.
fn fallback(krate: &syn::Path, name: &syn::Ident) -> TokenStream {
    quote! {
        impl #krate::__private::ConnectorConfig for #name {
            fn spec_document() -> #krate::__private::serde_json::Map<::std::string::String, #krate::__private::serde_json::Value> {
                ::core::unreachable!("the #[connector] attribute has errors")
            }
            fn from_context(
                _: &#krate::ActionContext,
            ) -> ::core::result::Result<Self, #krate::ActionError> {
                ::core::unreachable!("the #[connector] attribute has errors")
            }
            fn to_parts(&self) -> ::core::result::Result<#krate::__private::InstanceParts, #krate::ActionError> {
                ::core::unreachable!("the #[connector] attribute has errors")
            }
        }
    }
}
