//! `#[connector]`, `#[action]` and `include_spec!`: connectors written as annotated Rust or
//! compiled from YAML specs at build time. Re-exported by `connector-runtime`; see
//! `docs/rust-connectors.md`. The work is done by `connector-codegen`; this crate only hands
//! tokens over.

use proc_macro::TokenStream;

/// On a config struct: `#[connector(id = ".acme", display_name = "Acme", description = "...",
/// license = "gold", auth = ["bearer"])]`, with `#[field(...)]` hints on its fields.
/// On the impl block with the `#[action(...)]` methods: `#[connector]`.
#[proc_macro_attribute]
pub fn connector(attr: TokenStream, item: TokenStream) -> TokenStream {
    connector_codegen::connector(attr.into(), item.into()).into()
}

/// Marks an action method inside a `#[connector]` impl block:
/// `#[action(scope = "write", tool)]`. On its own it is an error.
#[proc_macro_attribute]
pub fn action(_attr: TokenStream, item: TokenStream) -> TokenStream {
    connector_codegen::action_outside(item.into()).into()
}

/// Compile a YAML spec into a module: `include_spec!("../specs/teams.yaml")`. Like
/// `include_str!`, the path is relative to the file that contains the invocation.
#[proc_macro]
pub fn include_spec(input: TokenStream) -> TokenStream {
    // Where the compiler does not say which file is being expanded (some IDEs), fall back to
    // the crate's directory.
    let dir = proc_macro::Span::call_site()
        .local_file()
        .and_then(|f| f.parent().map(std::path::Path::to_path_buf))
        .and_then(|d| std::path::absolute(d).ok())
        .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from))
        .unwrap_or_default();
    connector_codegen::include_spec(input.into(), &dir).into()
}
