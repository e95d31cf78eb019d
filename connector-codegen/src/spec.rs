//! `include_spec!("specs/x.yaml")`: a YAML spec validated at build time and compiled into a
//! module with typed inputs, a handler trait for `handler: code` actions, and a connector bound
//! to the runtime's declarative executor.

use std::path::{Path, PathBuf};

use connector_spec::{ConnectorSpec, LoadOptions, Severity, SpecLoader};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

use crate::args::{self, Arg, Errors, check_keys};
use crate::typegen::{TypeGen, type_name};

const KEYS: [&str; 3] = ["module", "crate", "strict"];

/// `"path" [, key = value]*`.
struct Input {
    path: LitStr,
    args: Vec<Arg>,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Input> {
        let path: LitStr = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the spec file's path: `include_spec!(\"specs/my_service.yaml\")`",
            )
        })?;
        let mut args = Vec::new();
        while input.peek(Token![,]) {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            args.push(input.parse()?);
        }
        if !input.is_empty() {
            return Err(
                input.error("expected `,` followed by `module = name`, `crate = path` or `strict`")
            );
        }
        Ok(Input { path, args })
    }
}

/// Expand `include_spec!`; relative paths are resolved against `base_dir` (the directory of the
/// file that contains the invocation, as for `include_str!`).
pub fn expand(input: TokenStream, base_dir: &Path) -> TokenStream {
    let input: Input = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let mut errors = Errors::default();
    let mut krate: syn::Path = syn::parse_quote!(::connector_runtime);
    let mut module: Option<syn::Ident> = None;
    let mut strict = false;
    for a in check_keys(&input.args, &KEYS, "include_spec", &mut errors) {
        match a.name().as_str() {
            "module" => module = a.ident(&mut errors),
            "crate" => {
                if let Some(p) = a.path(&mut errors) {
                    krate = p;
                }
            }
            "strict" => strict = a.flag(&mut errors),
            _ => {}
        }
    }
    let written = input.path.value();
    let full: PathBuf = base_dir.join(&written);
    let module = module.unwrap_or_else(|| {
        let stem = Path::new(&written)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("spec");
        args::ident(&args::snake_case(stem), input.path.span())
    });
    let text = match std::fs::read_to_string(&full) {
        Ok(t) => t,
        Err(e) => {
            errors.push(
                input.path.span(),
                format_args!(
                    "cannot read spec file `{written}` ({}): {e}; paths are relative to the file that contains `include_spec!`",
                    full.display()
                ),
            );
            return errors.to_compile_errors();
        }
    };
    let loader = SpecLoader::new(LoadOptions {
        strict,
        ..LoadOptions::default()
    });
    let loaded = loader.load_str(&diagnostic_path(&full), &text);
    let full_str = full.display().to_string();
    for d in loaded.located() {
        if d.severity == Severity::Error {
            let mut msg = d.short();
            if let Some(h) = &d.help {
                msg.push_str(&format!("\n  help: {h}"));
            }
            errors.push(input.path.span(), msg);
        }
    }
    match (&loaded.spec, errors.is_empty()) {
        (Some(spec), true) => generate(&krate, &module, &written, &full_str, spec),
        _ => {
            let errs = errors.to_compile_errors();
            let fb = fallback(&krate, &module, &written, &full_str);
            quote!(#errs #fb)
        }
    }
}

/// The spec file as diagnostics name it: relative to the crate root (`CARGO_MANIFEST_DIR`)
/// when the file is inside the crate, as `cargo` prints paths, so it opens from the editor's
/// terminal; otherwise its absolute path.
fn diagnostic_path(full: &Path) -> String {
    let file = std::fs::canonicalize(full).unwrap_or_else(|_| full.to_path_buf());
    let root = std::env::var_os("CARGO_MANIFEST_DIR").and_then(|d| std::fs::canonicalize(d).ok());
    match root.as_deref().and_then(|r| file.strip_prefix(r).ok()) {
        Some(relative) => relative.display().to_string(),
        None => file.display().to_string(),
    }
}

/// Code actions in spec order: (action name, method ident).
fn code_actions(spec: &ConnectorSpec) -> Vec<(String, syn::Ident)> {
    spec.actions
        .iter()
        .filter(|(_, a)| a.implementation.is_code())
        .map(|(n, _)| {
            (
                n.clone(),
                args::ident(&args::snake_case(n), Span::call_site()),
            )
        })
        .collect()
}

fn generate(
    krate: &syn::Path,
    module: &syn::Ident,
    written: &str,
    full: &str,
    spec: &ConnectorSpec,
) -> TokenStream {
    let ActionTypes {
        types,
        input_impls,
        outputs,
    } = action_types(krate, spec);
    let code = code_actions(spec);
    let id = &spec.id;
    let handlers = handler_parts(krate, spec, &code, &outputs);
    let handlers_trait = handlers_trait(module, id, &code, &handlers.trait_methods);
    let connector_fn = connector_fn(krate, &handlers);
    let adapters = &handlers.adapters;
    let mod_doc = format!(
        "`{id}` ({}), compiled from `{written}` by `include_spec!`: {}",
        spec.display_name, spec.description
    );
    let type_items = &types.items;
    let common = common_items(krate, written, full, Some(id));
    quote! {
        #[doc = #mod_doc]
        #[allow(dead_code)]
        pub mod #module {
            #common
            #(#type_items)*
            #(#input_impls)*
            #handlers_trait
            #connector_fn
            #(#adapters)*
        }
    }
}

/// The generated Rust types of the actions' inputs and outputs.
struct ActionTypes {
    types: TypeGen,
    /// `impl ActionInput for <Action>Input`, one per action.
    input_impls: Vec<TokenStream>,
    /// The output type of each action, by action name.
    outputs: Vec<(String, TokenStream)>,
}

/// An input struct per action (with its `ActionInput` impl) and an output type per action.
fn action_types(krate: &syn::Path, spec: &ConnectorSpec) -> ActionTypes {
    let c = quote!(#krate::__private);
    let p = quote!(#krate::__private);
    let mut types = TypeGen::new(p.clone());
    types.reserve("Config");
    for name in spec.actions.keys() {
        types.reserve(&type_name(name, "Input").to_string());
        types.reserve(&type_name(name, "Output").to_string());
    }
    config_type(&mut types, spec);
    let mut input_impls = Vec::new();
    let mut outputs: Vec<(String, TokenStream)> = Vec::new();
    for (name, action) in &spec.actions {
        let input_name = type_name(name, "Input");
        let doc = format!("Input of `{name}`: {}", action.description);
        let ident = types.object_exact(&input_name.to_string(), &action.input, &doc);
        let output = output_type(&mut types, &p, name, action.output.as_ref());
        input_impls.push(quote! {
            impl #c::ActionInput for #ident {
                const ACTION: &'static str = #name;
                type Output = #output;
            }
        });
        outputs.push((name.clone(), output));
    }
    ActionTypes {
        types,
        input_impls,
        outputs,
    }
}

/// `Config`: the connector's config fields, for `ctx.config_as::<Config>()` in handlers. The
/// instance's config also holds `authType` and the auth type's fields, so unknown keys are
/// accepted here even where the schema closes the form.
fn config_type(types: &mut TypeGen, spec: &ConnectorSpec) {
    let mut schema = spec.config.clone();
    if let Some(m) = schema.as_object_mut() {
        m.remove("additionalProperties");
    }
    let doc = format!(
        "The config of `{}` (its `config` schema), read in a handler with `ctx.config_as::<Config>()`.",
        spec.id
    );
    types.object_exact("Config", &schema, &doc);
}

/// An action's output type: a struct for an object schema with properties, otherwise an alias
/// of `serde_json::Value`.
fn output_type(
    types: &mut TypeGen,
    p: &TokenStream,
    name: &str,
    output: Option<&Value>,
) -> TokenStream {
    let output_name = type_name(name, "Output");
    let out_doc = format!("Output of `{name}`.");
    match output {
        Some(o)
            if o.get("type").and_then(Value::as_str) == Some("object")
                && o.get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty()) =>
        {
            let ident = types.object_exact(&output_name.to_string(), o, &out_doc);
            quote!(#ident)
        }
        _ => {
            types.items.push(quote! {
                #[doc = #out_doc]
                pub type #output_name = #p::serde_json::Value;
            });
            quote!(#output_name)
        }
    }
}

/// What the spec's code handlers add: `Handlers` trait methods, adapter types to the runtime's
/// handler traits, and the registrations in `connector(handlers)`.
#[derive(Default)]
struct HandlerParts {
    trait_methods: Vec<TokenStream>,
    adapters: Vec<TokenStream>,
    registrations: Vec<TokenStream>,
}

/// The handler parts of the `handler: code` actions, then of the code `test`, then of the hooks.
fn handler_parts(
    krate: &syn::Path,
    spec: &ConnectorSpec,
    code: &[(String, syn::Ident)],
    outputs: &[(String, TokenStream)],
) -> HandlerParts {
    let mut parts = HandlerParts::default();
    for (name, method) in code {
        let output = &outputs
            .iter()
            .find(|(n, _)| n == name)
            .expect("every action has an output type")
            .1;
        let description = &spec.actions[name].description;
        code_action_parts(&mut parts, krate, name, method, output, description);
    }
    if spec.test.as_ref().is_some_and(|t| t.handler.is_some()) {
        test_handler_parts(&mut parts, krate);
    }
    if spec.hooks.has_code() {
        hook_handler_parts(&mut parts, krate);
    }
    parts
}

/// One `handler: code` action: its trait method, adapter and registration.
fn code_action_parts(
    parts: &mut HandlerParts,
    krate: &syn::Path,
    name: &str,
    method: &syn::Ident,
    output: &TokenStream,
    description: &str,
) {
    let c = quote!(#krate::__private);
    let p = quote!(#krate::__private);
    let input = type_name(name, "Input");
    let doc = format!("`{name}` (`handler: code`): {description}");
    parts.trait_methods.push(quote! {
        #[doc = #doc]
        fn #method(
            &self,
            ctx: &#krate::ActionContext,
            input: #input,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<#output, #krate::ActionError>> + ::core::marker::Send;
    });
    let adapter = format_ident!("__{}Handler", args::pascal_case(name));
    parts.adapters.push(quote! {
        struct #adapter<H>(::std::sync::Arc<H>);

        #[#p::async_trait]
        impl<H: Handlers> #krate::ActionHandler for #adapter<H> {
            async fn call(
                &self,
                ctx: &#krate::ActionContext,
                input: #p::serde_json::Value,
            ) -> ::core::result::Result<#p::serde_json::Value, #krate::ActionError> {
                let input: #input = #c::decode_input(#name, input)?;
                let output = self.0.#method(ctx, input).await?;
                #c::encode_output(#name, &output)
            }
        }
    });
    parts.registrations.push(quote! {
        let c = c.with_handler(#name, ::std::sync::Arc::new(#adapter(::std::sync::Arc::clone(&handlers))));
    });
}

/// The code connection check: its trait method, adapter and registration.
fn test_handler_parts(parts: &mut HandlerParts, krate: &syn::Path) {
    let p = quote!(#krate::__private);
    parts.trait_methods.push(quote! {
        /// The connection check (`test: { handler: code }`).
        fn test(
            &self,
            ctx: &#krate::ActionContext,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<#p::serde_json::Value, #krate::ActionError>> + ::core::marker::Send;
    });
    parts.adapters.push(quote! {
        struct __TestHandler<H>(::std::sync::Arc<H>);

        #[#p::async_trait]
        impl<H: Handlers> #krate::ActionHandler for __TestHandler<H> {
            async fn call(
                &self,
                ctx: &#krate::ActionContext,
                _input: #p::serde_json::Value,
            ) -> ::core::result::Result<#p::serde_json::Value, #krate::ActionError> {
                self.0.test(ctx).await
            }
        }
    });
    parts.registrations.push(quote! {
        let c = c.with_test_handler(::std::sync::Arc::new(__TestHandler(::std::sync::Arc::clone(&handlers))));
    });
}

/// The lifecycle hooks implemented in code (`hooks.<name>: code`): their trait method, adapter
/// and registration. Declarative hooks need none.
fn hook_handler_parts(parts: &mut HandlerParts, krate: &syn::Path) {
    let p = quote!(#krate::__private);
    parts.trait_methods.push(quote! {
        /// The lifecycle hooks the spec declares.
        fn hook(
            &self,
            ctx: &#krate::ActionContext,
            hook: #krate::Hook,
        ) -> impl ::core::future::Future<Output = ::core::result::Result<(), #krate::ActionError>> + ::core::marker::Send;
    });
    parts.adapters.push(quote! {
        struct __HookHandler<H>(::std::sync::Arc<H>);

        #[#p::async_trait]
        impl<H: Handlers> #krate::HookHandler for __HookHandler<H> {
            async fn call(
                &self,
                ctx: &#krate::ActionContext,
                hook: #krate::Hook,
            ) -> ::core::result::Result<(), #krate::ActionError> {
                self.0.hook(ctx, hook).await
            }
        }
    });
    parts.registrations.push(quote! {
        let c = c.with_hooks(::std::sync::Arc::new(__HookHandler(::std::sync::Arc::clone(&handlers))));
    });
}

/// The `Handlers` trait, with a diagnostic naming the code actions when it is not implemented.
fn handlers_trait(
    module: &syn::Ident,
    id: &str,
    code: &[(String, syn::Ident)],
    trait_methods: &[TokenStream],
) -> TokenStream {
    let code_names: Vec<&str> = code.iter().map(|(n, _)| n.as_str()).collect();
    let unimplemented_msg = format!("`{{Self}}` does not implement the code handlers of `{id}`");
    let unimplemented_note = if code_names.is_empty() {
        format!("implement `{module}::Handlers` for your handler type")
    } else {
        format!(
            "implement `{module}::Handlers`: one method per `handler: code` action ({})",
            code_names.join(", ")
        )
    };
    quote! {
        /// The Rust code the spec asks for: one method per `handler: code` action (snake_case
        /// of the action name), plus `test` and `hook` when the spec declares them in code.
        #[diagnostic::on_unimplemented(message = #unimplemented_msg, note = #unimplemented_note)]
        pub trait Handlers: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#trait_methods)*
        }
    }
}

/// `connector(handlers)` registering the code handlers, or `connector()` when there are none.
fn connector_fn(krate: &syn::Path, handlers: &HandlerParts) -> TokenStream {
    let needs_handlers = !handlers.trait_methods.is_empty();
    let registrations = &handlers.registrations;
    if needs_handlers {
        quote! {
            /// The connector: the declarative executor runs the spec's requests, `handlers`
            /// the `handler: code` actions.
            pub fn connector<H: Handlers>(handlers: H) -> ::core::result::Result<#krate::DeclarativeConnector, #krate::ActionError> {
                let handlers = ::std::sync::Arc::new(handlers);
                let c = #krate::DeclarativeConnector::new(spec()?);
                #(#registrations)*
                ::core::result::Result::Ok(c)
            }
        }
    } else {
        quote! {
            /// The connector: the declarative executor runs the spec's requests.
            pub fn connector() -> ::core::result::Result<#krate::DeclarativeConnector, #krate::ActionError> {
                ::core::result::Result::Ok(#krate::DeclarativeConnector::new(spec()?))
            }
        }
    }
}

/// `FILE`, `SOURCE` (with `include_str!` so editing the file rebuilds), `spec()` and
/// `schema_json()`.
fn common_items(krate: &syn::Path, written: &str, full: &str, id: Option<&str>) -> TokenStream {
    let c = quote!(#krate::__private);
    let p = quote!(#krate::__private);
    let id = id.map(|id| {
        quote! {
            /// The connector id.
            pub const ID: &str = #id;
        }
    });
    quote! {
        /// The spec file as written in `include_spec!`; diagnostics name it.
        pub const FILE: &str = #written;
        /// The spec file's text. `include_str!` makes cargo rebuild when the file changes.
        pub const SOURCE: &str = ::core::include_str!(#full);
        #id

        /// The connector's model, loaded from [`SOURCE`] by the same loader that validated it
        /// at build time (once; later calls share it).
        pub fn spec() -> ::core::result::Result<::std::sync::Arc<#p::connector_spec::ConnectorSpec>, #krate::ActionError> {
            static SPEC: ::std::sync::OnceLock<::core::result::Result<::std::sync::Arc<#p::connector_spec::ConnectorSpec>, #krate::ActionError>> = ::std::sync::OnceLock::new();
            SPEC.get_or_init(|| #c::load_embedded(FILE, SOURCE)).clone()
        }

        /// The `connector schema` document of this spec, byte for byte.
        pub fn schema_json() -> ::core::result::Result<::std::string::String, #krate::ActionError> {
            ::core::result::Result::Ok(#c::schema_json(&*spec()?))
        }
    }
}

/// Emitted when the spec has errors: the module with its file and loader functions, so that
/// code naming the module still resolves and only the spec's own errors are reported.
fn fallback(krate: &syn::Path, module: &syn::Ident, written: &str, full: &str) -> TokenStream {
    let common = common_items(krate, written, full, None);
    quote! {
        #[allow(dead_code)]
        pub mod #module {
            #common
        }
    }
}
