//! `#[connector]` on an impl block: `#[action(...)]` methods become the connector's actions, an
//! optional `test` method its connection check, and a connector type implements the runtime's
//! `Connector` trait with dispatch by action name.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use crate::args::{self, Arg, Errors, check_keys};

const IMPL_KEYS: [&str; 4] = ["crate", "name", "session", "strict"];
const ACTION_KEYS: [&str; 5] = ["tool", "scope", "description", "name", "session"];
const SESSION_KEYS: [&str; 5] = ["name", "init", "id", "cleanup", "description"];
const SCOPES: [&str; 3] = ["read", "write", "destroy"];

/// One `#[action]` method.
struct Action {
    method: syn::Ident,
    name: String,
    name_span: Span,
    description: String,
    tool: bool,
    scope: String,
    session: Option<(String, Span)>,
    input: syn::Type,
    output: syn::Type,
    /// The error type of the returned `Result`: where a conversion failure is reported.
    error_span: Span,
}

/// The `test` method.
struct Test {
    method: syn::Ident,
    error_span: Span,
}

/// `session(name = "rtr", init = "...", id = "$.x", cleanup = "...")`.
struct Session {
    name: String,
    init: (String, Span),
    id: String,
    cleanup: Option<(String, Span)>,
    description: Option<String>,
}

/// Expand `#[connector]` on an impl block.
pub fn expand_impl(attr: TokenStream, mut item: syn::ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    let ImplArgs {
        krate,
        type_name,
        sessions,
        strict,
    } = parse_impl_args(attr, &mut errors);
    check_impl_block(&item, &mut errors);
    let Some(self_ident) = self_type_ident(&item.self_ty) else {
        errors.push(
            item.self_ty.span(),
            "`#[connector]` needs a named struct type",
        );
        let errs = errors.to_compile_errors();
        return quote!(#item #errs);
    };
    let self_ty = item.self_ty.clone();
    let (actions, test) = collect_methods(&mut item, &mut errors);
    if actions.is_empty() && errors.is_empty() {
        errors.push(
            item.self_ty.span(),
            "a `#[connector]` impl block declares at least one `#[action(...)]` method",
        );
    }
    check_sessions(&sessions, &actions, &mut errors);
    let connector = type_name.unwrap_or_else(|| format_ident!("{}Connector", self_ident));
    let body = if errors.is_empty() {
        generate(
            &krate,
            &self_ty,
            &connector,
            &actions,
            test.as_ref(),
            &sessions,
            strict,
        )
    } else {
        fallback(&krate, &self_ty, &connector)
    };
    let errs = errors.to_compile_errors();
    quote! {
        #item
        #errs
        #body
    }
}

/// The arguments of `#[connector(...)]` on the impl block.
struct ImplArgs {
    krate: syn::Path,
    type_name: Option<syn::Ident>,
    sessions: Vec<Session>,
    /// `strict`: the spec's warnings (unbounded inputs) are errors when it is built.
    strict: bool,
}

/// Parse `#[connector(crate = ..., name = ..., session(...)...)]`.
fn parse_impl_args(attr: TokenStream, errors: &mut Errors) -> ImplArgs {
    let mut out = ImplArgs {
        krate: syn::parse_quote!(::connector_runtime),
        type_name: None,
        sessions: Vec::new(),
        strict: false,
    };
    let all = match args::parse_args(attr) {
        Ok(all) => all,
        Err(e) => {
            errors.push_error(e);
            return out;
        }
    };
    let (session_args, rest): (Vec<&Arg>, Vec<&Arg>) =
        all.iter().partition(|a| a.name() == "session");
    let rest: Vec<Arg> = rest.into_iter().map(args::clone_arg).collect();
    for a in check_keys(&rest, &IMPL_KEYS, "connector impl", errors) {
        match a.name().as_str() {
            "crate" => {
                if let Some(p) = a.path(errors) {
                    out.krate = p;
                }
            }
            "name" => out.type_name = a.ident(errors),
            "strict" => out.strict = a.flag(errors),
            _ => {}
        }
    }
    for a in session_args {
        if let Some(s) = parse_session(a, errors) {
            if out.sessions.iter().any(|o| o.name == s.name) {
                errors.push(
                    a.span(),
                    format_args!("session `{}` is declared twice", s.name),
                );
            }
            out.sessions.push(s);
        }
    }
    out
}

/// The impl block is an inherent, non-generic impl.
fn check_impl_block(item: &syn::ItemImpl, errors: &mut Errors) {
    if item.trait_.is_some() {
        errors.push(
            item.impl_token.span,
            "`#[connector]` goes on an inherent impl block (`impl MyConnector { ... }`), not a trait impl",
        );
    }
    if !item.generics.params.is_empty() {
        errors.push(
            item.generics.span(),
            "a `#[connector]` impl block cannot be generic",
        );
    }
}

/// The name of the impl block's self type, when it is a plain path.
fn self_type_ident(self_ty: &syn::Type) -> Option<syn::Ident> {
    match self_ty {
        syn::Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    }
}

/// The `#[action]` methods (their attributes removed from the impl block) and the `test` method.
fn collect_methods(item: &mut syn::ItemImpl, errors: &mut Errors) -> (Vec<Action>, Option<Test>) {
    let mut actions: Vec<Action> = Vec::new();
    let mut test: Option<Test> = None;
    for it in item.items.iter_mut() {
        let syn::ImplItem::Fn(f) = it else { continue };
        let action_attrs = take_action_attrs(f);
        if action_attrs.is_empty() {
            if f.sig.ident == "test" && check_test(&f.sig, errors) {
                test = Some(Test {
                    method: f.sig.ident.clone(),
                    error_span: result_error_span(&f.sig.output),
                });
            }
            continue;
        }
        for extra in action_attrs.iter().skip(1) {
            errors.push(
                extra.span(),
                "a method takes one `#[action(...)]` attribute",
            );
        }
        if let Some(a) = parse_action(&action_attrs[0], f, errors) {
            if let Some(prev) = actions.iter().find(|p| p.name == a.name) {
                errors.push(
                    a.name_span,
                    format_args!(
                        "duplicate action `{}`: method `{}` already declares it",
                        a.name, prev.method
                    ),
                );
            }
            actions.push(a);
        }
    }
    (actions, test)
}

/// Remove the method's `#[action(...)]` attributes and return them.
fn take_action_attrs(f: &mut syn::ImplItemFn) -> Vec<syn::Attribute> {
    let mut action_attrs = Vec::new();
    f.attrs.retain(|a| {
        if a.path().is_ident("action") {
            action_attrs.push(a.clone());
            false
        } else {
            true
        }
    });
    action_attrs
}

fn parse_session(a: &Arg, errors: &mut Errors) -> Option<Session> {
    let items = a.list(errors)?;
    let before = errors.len();
    let mut name = None;
    let mut init = None;
    let mut id = None;
    let mut cleanup = None;
    let mut description = None;
    for s in check_keys(items, &SESSION_KEYS, "session", errors) {
        match s.name().as_str() {
            "name" => name = s.string(errors).map(|v| v.0),
            "init" => init = s.string(errors),
            "id" => {
                if let Some((path, span)) = s.string(errors) {
                    if !path.starts_with('$') {
                        errors.push(span, "`id` is a JSON path into the init action's output, e.g. `$.session_id`");
                    }
                    id = Some(path);
                }
            }
            "cleanup" => cleanup = s.string(errors),
            "description" => description = s.string(errors).map(|v| v.0),
            _ => {}
        }
    }
    let missing: Vec<&str> = [
        ("name", name.is_some()),
        ("init", init.is_some()),
        ("id", id.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(k, _)| k)
    .collect();
    if !missing.is_empty() && errors.len() == before {
        errors.push(
            a.span(),
            format_args!(
                "`session(...)` is missing {}",
                missing
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Some(Session {
        name: name?,
        init: init?,
        id: id?,
        cleanup,
        description,
    })
}

/// Session `init`/`cleanup` name actions (by action name or method name); members name a
/// declared session.
fn check_sessions(sessions: &[Session], actions: &[Action], errors: &mut Errors) {
    let names: Vec<String> = actions
        .iter()
        .flat_map(|a| [a.method.to_string(), a.name.clone()])
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for s in sessions {
        for (what, r) in [("init", Some(&s.init)), ("cleanup", s.cleanup.as_ref())] {
            let Some((target, span)) = r else { continue };
            if resolve(target, actions).is_none() {
                errors.push(
                    *span,
                    format_args!(
                        "session `{}` {what} names no action `{target}`; {}",
                        s.name,
                        args::one_of_help(target, &name_refs)
                    ),
                );
            }
        }
    }
    let session_names: Vec<&str> = sessions.iter().map(|s| s.name.as_str()).collect();
    for a in actions {
        if let Some((s, span)) = &a.session
            && !session_names.contains(&s.as_str())
        {
            let help = if session_names.is_empty() {
                "declare it on the impl block: `#[connector(session(name = \"...\", init = \"...\", id = \"$.id\"))]`".to_string()
            } else {
                args::one_of_help(s, &session_names)
            };
            errors.push(
                *span,
                format_args!(
                    "action `{}` names an undeclared session `{s}`; {help}",
                    a.name
                ),
            );
        }
    }
}

/// The action named `target`, by action name or method name.
fn resolve<'a>(target: &str, actions: &'a [Action]) -> Option<&'a Action> {
    actions
        .iter()
        .find(|a| a.name == target || a.method == target)
}

fn parse_action(attr: &syn::Attribute, f: &syn::ImplItemFn, errors: &mut Errors) -> Option<Action> {
    let before = errors.len();
    let parsed = action_args(attr, errors)?;
    let method = f.sig.ident.clone();
    let mut name = (args::camel_case(&method.to_string()), method.span());
    let mut description = args::doc_text(&f.attrs);
    let mut tool = false;
    let mut scope = None;
    let mut session = None;
    for a in check_keys(&parsed, &ACTION_KEYS, "action", errors) {
        match a.name().as_str() {
            "tool" => tool = a.flag(errors),
            "scope" => scope = parse_scope(a, errors).or(scope),
            "description" => description = parse_description(a, errors).or(description),
            "name" => name = parse_action_name(a, errors).unwrap_or(name),
            "session" => session = a.string(errors),
            _ => {}
        }
    }
    let scope_known = scope.is_some();
    if !scope_known && !parsed.iter().any(|a| a.name() == "scope") {
        errors.push(
            attr.span(),
            format_args!(
                "action `{}` needs a scope: `#[action(scope = \"read\")]` (read, write or destroy)",
                name.0
            ),
        );
    }
    if description.is_none() {
        errors.push(
            method.span(),
            format_args!("action `{}` has no description: add a `///` doc comment or `description = \"...\"`", name.0),
        );
    }
    let (input, output) = check_signature(&f.sig, errors)?;
    (errors.len() == before).then(|| Action {
        method,
        name: name.0,
        name_span: name.1,
        description: description.unwrap_or_default(),
        tool,
        scope: scope.unwrap_or_default(),
        session,
        input,
        output,
        error_span: result_error_span(&f.sig.output),
    })
}

/// The arguments inside `#[action(...)]`.
fn action_args(attr: &syn::Attribute, errors: &mut Errors) -> Option<Vec<Arg>> {
    let tokens = match &attr.meta {
        syn::Meta::Path(_) => TokenStream::new(),
        syn::Meta::List(l) => l.tokens.clone(),
        syn::Meta::NameValue(nv) => {
            errors.push(nv.span(), "write `#[action(scope = \"read\", ...)]`");
            return None;
        }
    };
    match args::parse_args(tokens) {
        Ok(a) => Some(a),
        Err(e) => {
            errors.push_error(e);
            None
        }
    }
}

/// `scope = "..."`: one of [`SCOPES`]; `None` when missing or unknown.
fn parse_scope(a: &Arg, errors: &mut Errors) -> Option<String> {
    let (s, span) = a.string(errors)?;
    if SCOPES.contains(&s.as_str()) {
        Some(s)
    } else {
        errors.push(
            span,
            format_args!("unknown scope `{s}`; {}", args::one_of_help(&s, &SCOPES)),
        );
        None
    }
}

/// `description = "..."`: reported when blank, but kept.
fn parse_description(a: &Arg, errors: &mut Errors) -> Option<String> {
    let (d, span) = a.string(errors)?;
    if d.trim().is_empty() {
        errors.push(span, "`description` cannot be empty");
    }
    Some(d)
}

/// `name = "..."`: reported when it has other characters than letters, digits, `_`, `-`
/// and `.`, but kept.
fn parse_action_name(a: &Arg, errors: &mut Errors) -> Option<(String, Span)> {
    let (n, span) = a.string(errors)?;
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        errors.push(
            span,
            format_args!("invalid action name `{n}`: use letters, digits, `_`, `-` and `.`"),
        );
    }
    Some((n, span))
}

/// `async fn name(&self, ctx: &ActionContext, input: In) -> Result<Out, ActionError>`:
/// returns `(In, Out)`.
fn check_signature(sig: &syn::Signature, errors: &mut Errors) -> Option<(syn::Type, syn::Type)> {
    let expected = "expected `async fn name(&self, ctx: &ActionContext, input: Input) -> Result<Output, ActionError>`";
    let mut ok = true;
    if sig.asyncness.is_none() {
        errors.push(
            sig.fn_token.span,
            format_args!("action methods are `async fn`; {expected}"),
        );
        ok = false;
    }
    if !sig.generics.params.is_empty() {
        errors.push(sig.generics.span(), "action methods cannot be generic");
        ok = false;
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(syn::FnArg::Receiver(r))
            if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None)) => {}
        Some(other) => {
            errors.push(
                other.span(),
                format_args!("action methods take `&self` first; {expected}"),
            );
            ok = false;
        }
        None => {
            errors.push(
                sig.paren_token.span.join(),
                format_args!("action methods take `&self`, a context and an input; {expected}"),
            );
            ok = false;
        }
    }
    let rest: Vec<&syn::FnArg> = inputs.collect();
    let input = action_input(sig, &rest, expected, errors);
    let output = match &sig.output {
        syn::ReturnType::Type(_, ty) => result_ok_type(ty).or_else(|| {
            errors.push(
                ty.span(),
                format_args!("action methods return `Result<Output, ActionError>`; {expected}"),
            );
            None
        }),
        syn::ReturnType::Default => {
            errors.push(
                sig.ident.span(),
                format_args!("action methods return `Result<Output, ActionError>`; {expected}"),
            );
            None
        }
    };
    match (ok, input, output) {
        (true, Some(i), Some(o)) => Some((i, o)),
        _ => None,
    }
}

/// The input type: the second argument after `&self`, taken by value.
fn action_input(
    sig: &syn::Signature,
    rest: &[&syn::FnArg],
    expected: &str,
    errors: &mut Errors,
) -> Option<syn::Type> {
    if rest.len() == 2 {
        match rest[1] {
            syn::FnArg::Typed(t) if matches!(*t.ty, syn::Type::Reference(_)) => {
                let syn::Type::Reference(r) = &*t.ty else {
                    unreachable!("matched above")
                };
                let inner = &r.elem;
                errors.push(
                    t.ty.span(),
                    format_args!(
                        "the input is taken by value: `input: {}`, not a reference; each call deserializes its own input and hands it over",
                        quote!(#inner).to_string().replace(' ', "")
                    ),
                );
                None
            }
            syn::FnArg::Typed(t) => Some((*t.ty).clone()),
            other => {
                errors.push(other.span(), expected);
                None
            }
        }
    } else if !sig.inputs.is_empty() {
        errors.push(
            sig.paren_token.span.join(),
            format_args!(
                "action methods take 2 arguments after `&self` (the context and the input), found {}; {expected}",
                rest.len()
            ),
        );
        None
    } else {
        None
    }
}

/// The span of `E` in a `-> Result<T, E>` return type (else of the return type).
fn result_error_span(output: &syn::ReturnType) -> Span {
    let syn::ReturnType::Type(_, ty) = output else {
        return output.span();
    };
    let syn::Type::Path(p) = &**ty else {
        return ty.span();
    };
    match p.path.segments.last().map(|s| &s.arguments) {
        Some(syn::PathArguments::AngleBracketed(a)) => a
            .args
            .iter()
            .nth(1)
            .map_or_else(|| ty.span(), Spanned::span),
        _ => ty.span(),
    }
}

/// `Result<T, E>` -> `T`.
fn result_ok_type(ty: &syn::Type) -> Option<syn::Type> {
    let syn::Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(a) = &seg.arguments else {
        return None;
    };
    let types: Vec<&syn::Type> = a
        .args
        .iter()
        .filter_map(|g| match g {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    (types.len() == 2).then(|| types[0].clone())
}

/// `async fn test(&self, ctx: &ActionContext) -> Result<Output, ActionError>`.
fn check_test(sig: &syn::Signature, errors: &mut Errors) -> bool {
    let expected = "the connection check is `async fn test(&self, ctx: &ActionContext) -> Result<Output, ActionError>`";
    let receiver_ok = matches!(sig.inputs.first(), Some(syn::FnArg::Receiver(r)) if matches!(r.kind, syn::ReceiverKind::Reference(..)));
    let returns_result =
        matches!(&sig.output, syn::ReturnType::Type(_, t) if result_ok_type(t).is_some());
    if sig.asyncness.is_none() || !receiver_ok || sig.inputs.len() != 2 || !returns_result {
        errors.push(sig.ident.span(), expected);
        return false;
    }
    true
}

fn generate(
    krate: &syn::Path,
    self_ty: &syn::Type,
    connector: &syn::Ident,
    actions: &[Action],
    test: Option<&Test>,
    sessions: &[Session],
    strict: bool,
) -> TokenStream {
    let c = quote!(#krate::__private);
    let p = quote!(#krate::__private);
    let action_docs = actions.iter().map(|a| action_doc(krate, a));
    let sessions_insert = sessions_doc(krate, sessions, actions);
    let test_doc = test
        .map(|_| quote!(doc.insert("test".into(), #p::serde_json::json!({ "handler": "code" }));));
    let connector_impl = connector_trait_impl(krate, self_ty, connector, actions, test);
    let action_names = actions.iter().map(|a| &a.name);
    let doc = format!(
        "The runtime connector type of [`{}`], generated by `#[connector]`: its spec and dispatch by action name.",
        quote!(#self_ty).to_string().replace(' ', "")
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone)]
        pub struct #connector {
            spec: ::std::sync::Arc<#p::connector_spec::ConnectorSpec>,
        }

        impl #connector {
            /// Build the connector type; its spec is assembled from the config struct and the
            /// actions' Rust types, and checked, once per process (later calls share it).
            pub fn new() -> ::core::result::Result<Self, #krate::ActionError> {
                static SPEC: #c::SpecCell = #c::SpecCell::new();
                let spec = #c::cached_spec(&SPEC, Self::spec_model)?;
                ::core::result::Result::Ok(#connector { spec })
            }

            /// The connector's model: the same type the YAML loader produces.
            pub fn spec_model() -> ::core::result::Result<#p::connector_spec::ConnectorSpec, #krate::ActionError> {
                #c::build_spec(Self::spec_document(), #strict)
            }

            /// `#[connector(strict)]`: the spec fails to build on what `validate --strict` refuses.
            pub const STRICT: bool = #strict;

            /// The model in the spec format (camelCase JSON, which is also valid YAML).
            pub fn spec_document() -> #p::serde_json::Map<::std::string::String, #p::serde_json::Value> {
                let mut doc = <#self_ty as #c::ConnectorConfig>::spec_document();
                let mut actions = #p::serde_json::Map::new();
                #(#action_docs)*
                doc.insert("actions".into(), #p::serde_json::Value::Object(actions));
                #test_doc
                #sessions_insert
                doc
            }

            /// The `connector schema` document, byte for byte.
            pub fn schema_json() -> ::core::result::Result<::std::string::String, #krate::ActionError> {
                ::core::result::Result::Ok(#c::schema_json(&Self::spec_model()?))
            }

            /// An instance with `config` (the typed config struct) and `credentials` (the auth
            /// type and its fields), checked against the spec, ready to run actions.
            pub fn instance(
                config: &#self_ty,
                credentials: #c::Credentials,
            ) -> ::core::result::Result<#c::InstanceHandle, #krate::ActionError> {
                #c::InstanceHandle::compiled(::std::sync::Arc::new(Self::new()?), config, credentials)
            }
        }

        #connector_impl

        impl #c::ConnectorActions for #self_ty {
            const ACTIONS: &'static [&'static str] = &[#(#action_names),*];
        }
    }
}

/// `impl Connector for` the connector type: dispatch by action name and the connection test.
fn connector_trait_impl(
    krate: &syn::Path,
    self_ty: &syn::Type,
    connector: &syn::Ident,
    actions: &[Action],
    test: Option<&Test>,
) -> TokenStream {
    let p = quote!(#krate::__private);
    let arms = actions.iter().map(|a| dispatch_arm(krate, self_ty, a));
    let test_body = test_body(krate, self_ty, test);
    quote! {
        #[#p::async_trait]
        impl #krate::Connector for #connector {
            fn spec(&self) -> &::std::sync::Arc<#p::connector_spec::ConnectorSpec> {
                &self.spec
            }

            async fn execute(
                &self,
                ctx: &#krate::ActionContext,
                action: &str,
                input: #p::serde_json::Value,
                _opts: #krate::ExecuteOptions,
            ) -> ::core::result::Result<#p::serde_json::Value, #krate::ActionError> {
                match action {
                    #(#arms)*
                    _ => ::core::result::Result::Err(#krate::__private::unknown_action(&self.spec, action)),
                }
            }

            async fn test(
                &self,
                ctx: &#krate::ActionContext,
            ) -> ::core::result::Result<#p::serde_json::Value, #krate::ActionError> {
                #test_body
            }
        }
    }
}

/// The statement inserting one action's entry into the `actions` map of the spec document.
fn action_doc(krate: &syn::Path, a: &Action) -> TokenStream {
    let c = quote!(#krate::__private);
    let p = quote!(#krate::__private);
    let name = &a.name;
    let description = &a.description;
    let tool = a.tool;
    let scope = &a.scope;
    let input = &a.input;
    let output = &a.output;
    let session = a
        .session
        .as_ref()
        .map(|(s, _)| quote!(a.insert("session".into(), #p::serde_json::json!(#s));));
    quote! {{
        let mut a = #p::serde_json::Map::new();
        a.insert("description".into(), #p::serde_json::json!(#description));
        a.insert("isTool".into(), #p::serde_json::json!(#tool));
        a.insert("scope".into(), #p::serde_json::json!(#scope));
        a.insert("input".into(), #c::schema_of::<#input>());
        a.insert("output".into(), #c::schema_of::<#output>());
        a.insert("handler".into(), #p::serde_json::json!("code"));
        #session
        actions.insert(#name.into(), #p::serde_json::Value::Object(a));
    }}
}

/// The statements inserting the `sessions` map into the spec document; none without sessions.
fn sessions_doc(
    krate: &syn::Path,
    sessions: &[Session],
    actions: &[Action],
) -> Option<TokenStream> {
    let p = quote!(#krate::__private);
    let session_docs = sessions.iter().map(|s| {
        let name = &s.name;
        let init = resolve(&s.init.0, actions)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let id = &s.id;
        let cleanup = s
            .cleanup
            .as_ref()
            .and_then(|c| resolve(&c.0, actions))
            .map(|a| {
                let n = &a.name;
                quote!(m.insert("cleanup".into(), #p::serde_json::json!(#n));)
            });
        let description = s
            .description
            .as_ref()
            .map(|d| quote!(m.insert("description".into(), #p::serde_json::json!(#d));));
        quote! {{
            let mut m = #p::serde_json::Map::new();
            #description
            m.insert("init".into(), #p::serde_json::json!(#init));
            m.insert("id".into(), #p::serde_json::json!(#id));
            #cleanup
            sessions.insert(#name.into(), #p::serde_json::Value::Object(m));
        }}
    });
    (!sessions.is_empty()).then(|| {
        quote! {
            let mut sessions = #p::serde_json::Map::new();
            #(#session_docs)*
            doc.insert("sessions".into(), #p::serde_json::Value::Object(sessions));
        }
    })
}

/// The `execute` match arm that decodes the input, calls the action method and encodes its
/// output.
fn dispatch_arm(krate: &syn::Path, self_ty: &syn::Type, a: &Action) -> TokenStream {
    let c = quote!(#krate::__private);
    let name = &a.name;
    let method = &a.method;
    let input = &a.input;
    // The conversion of the method's error is reported at its error type.
    let convert = quote_spanned!(a.error_span=> #c::handler_result);
    let result = quote_spanned!(a.error_span=> result);
    quote_spanned! {a.method.span()=>
        #name => {
            let this = <#self_ty as #c::ConnectorConfig>::from_context(ctx)?;
            let input: #input = #c::decode_input(#name, input)?;
            let #result = this.#method(ctx, input).await;
            let output = #convert(#result)?;
            #c::encode_output(#name, &output)
        }
    }
}

/// The body of `Connector::test`: the `test` method's call, or the `no_test` error.
fn test_body(krate: &syn::Path, self_ty: &syn::Type, test: Option<&Test>) -> TokenStream {
    let c = quote!(#krate::__private);
    match test {
        Some(t) => {
            let method = &t.method;
            let convert = quote_spanned!(t.error_span=> #c::handler_result);
            let result = quote_spanned!(t.error_span=> result);
            quote! {
                let this = <#self_ty as #c::ConnectorConfig>::from_context(ctx)?;
                let #result = this.#method(ctx).await;
                let output = #convert(#result)?;
                #c::encode_output("test", &output)
            }
        }
        None => quote! {
            ::core::result::Result::Err(#krate::ActionError::user(
                "no_test",
                ::std::format!("{} declares no connection test", self.spec.id),
            ))
        },
    }
}

/// The connector type with no behaviour, emitted when the impl block has errors so that code
/// using it still type-checks.
fn fallback(krate: &syn::Path, self_ty: &syn::Type, connector: &syn::Ident) -> TokenStream {
    let p = quote!(#krate::__private);
    quote! {
        #[derive(Clone)]
        pub struct #connector {
            #[allow(dead_code)]
            spec: ::std::sync::Arc<#p::connector_spec::ConnectorSpec>,
        }

        #[#p::async_trait]
        impl #krate::Connector for #connector {
            fn spec(&self) -> &::std::sync::Arc<#p::connector_spec::ConnectorSpec> {
                &self.spec
            }
            async fn execute(
                &self,
                _: &#krate::ActionContext,
                _: &str,
                _: #p::serde_json::Value,
                _: #krate::ExecuteOptions,
            ) -> ::core::result::Result<#p::serde_json::Value, #krate::ActionError> {
                ::core::unreachable!("the #[connector] impl block has errors")
            }
            async fn test(
                &self,
                _: &#krate::ActionContext,
            ) -> ::core::result::Result<#p::serde_json::Value, #krate::ActionError> {
                ::core::unreachable!("the #[connector] impl block has errors")
            }
        }

        impl #p::ConnectorActions for #self_ty {
            const ACTIONS: &'static [&'static str] = &[];
            const KNOWN: bool = false;
        }

        impl #connector {
            pub fn new() -> ::core::result::Result<Self, #krate::ActionError> {
                ::core::unreachable!("the #[connector] impl block has errors")
            }
            pub fn spec_model() -> ::core::result::Result<#p::connector_spec::ConnectorSpec, #krate::ActionError> {
                ::core::unreachable!("the #[connector] impl block has errors")
            }
            pub fn schema_json() -> ::core::result::Result<::std::string::String, #krate::ActionError> {
                ::core::unreachable!("the #[connector] impl block has errors")
            }
            pub fn instance(
                _: &#self_ty,
                _: #p::Credentials,
            ) -> ::core::result::Result<#p::InstanceHandle, #krate::ActionError> {
                ::core::unreachable!("the #[connector] impl block has errors")
            }
        }
    }
}
