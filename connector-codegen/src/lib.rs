//! The connector compiler behind `connector-macros`: parses `#[connector]` items and YAML
//! specs, checks them, and generates Rust. A library (not a proc-macro crate) so that its
//! output can be rendered and snapshot-tested; the macros are thin shells over it.
//!
//! Phases, as in serde_derive and thiserror: [`args`] parses attribute arguments strictly and
//! gathers every error; [`config`], [`actions`] and [`spec`] check one kind of input each and
//! generate code; [`typegen`] turns JSON Schemas into Rust structs. On any error the generated
//! code is replaced by a fallback with the same names, so one mistake does not cascade.

pub mod actions;
pub mod args;
pub mod config;
pub mod spec;
pub mod typegen;

use std::path::Path;

use proc_macro2::TokenStream;
use quote::quote;

/// `#[connector(...)]` on a struct (metadata and config fields) or on an impl block (actions).
pub fn connector(attr: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(s)) => config::expand_struct(attr, s),
        Ok(syn::Item::Impl(i)) => actions::expand_impl(attr, i),
        Ok(other) => {
            let e = syn::Error::new_spanned(
                quote_item_head(&other),
                "`#[connector]` goes on a config struct or on the impl block with its `#[action]` methods",
            )
            .to_compile_error();
            quote!(#e #item)
        }
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#e #item)
        }
    }
}

fn quote_item_head(item: &syn::Item) -> TokenStream {
    match item {
        syn::Item::Enum(e) => {
            let (t, i) = (&e.enum_token, &e.ident);
            quote!(#t #i)
        }
        syn::Item::Fn(f) => {
            let (t, i) = (&f.sig.fn_token, &f.sig.ident);
            quote!(#t #i)
        }
        other => quote!(#other),
    }
}

/// `#[action]` outside a `#[connector]` impl block: an error that says where it belongs.
pub fn action_outside(item: TokenStream) -> TokenStream {
    let e = syn::Error::new(
        proc_macro2::Span::call_site(),
        "`#[action]` marks a method of an impl block that has `#[connector]`; put `#[connector]` on the impl block",
    )
    .to_compile_error();
    quote!(#e #item)
}

/// `include_spec!("path" [, module = name] [, crate = path] [, strict])`.
pub fn include_spec(input: TokenStream, base_dir: &Path) -> TokenStream {
    spec::expand(input, base_dir)
}
