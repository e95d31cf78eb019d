//! Rust types for JSON Schemas: one struct per object schema with named properties.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use serde_json::Value;

use crate::args;

/// Generates structs; nested object properties become their own structs.
pub struct TypeGen {
    /// `::connector_runtime::__private` (serde, serde_json).
    private: TokenStream,
    /// The same path as a string, for `#[serde(crate = "...")]`.
    serde_path: String,
    pub items: Vec<TokenStream>,
    names: Vec<String>,
}

impl TypeGen {
    pub fn new(private: TokenStream) -> TypeGen {
        let serde_path = format!("{private}::serde").replace(' ', "");
        TypeGen {
            private,
            serde_path,
            items: Vec::new(),
            names: Vec::new(),
        }
    }

    /// A unique type name derived from `base`.
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 2;
        while self.names.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        self.names.push(name.clone());
        name
    }

    /// Reserve a name so that later structs do not take it.
    pub fn reserve(&mut self, name: &str) {
        self.names.push(name.to_string());
    }

    /// The struct for an object schema; emitted into `items`. Returns its name.
    pub fn object(&mut self, base: &str, schema: &Value, doc: &str) -> syn::Ident {
        let name = self.unique(base);
        self.emit(name, schema, doc)
    }

    /// Like [`TypeGen::object`] with a name the caller reserved.
    pub fn object_exact(&mut self, name: &str, schema: &Value, doc: &str) -> syn::Ident {
        self.emit(name.to_string(), schema, doc)
    }

    fn emit(&mut self, name: String, schema: &Value, doc: &str) -> syn::Ident {
        let ident = syn::Ident::new(&name, Span::call_site());
        let p = self.private.clone();
        let serde_path = self.serde_path.clone();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        let mut used: Vec<String> = Vec::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (key, sub) in props {
                let mut fname = args::snake_case(key);
                let mut n = 2;
                while used.contains(&fname) {
                    fname = format!("{}_{n}", args::snake_case(key));
                    n += 1;
                }
                used.push(fname.clone());
                let fident = args::ident(&fname, Span::call_site());
                let ty = self.field_type(&format!("{name}{}", args::pascal_case(key)), sub);
                let fdoc = sub
                    .get("description")
                    .and_then(Value::as_str)
                    .map(|d| quote!(#[doc = #d]));
                if required.contains(&key.as_str()) {
                    fields.push(quote! {
                        #fdoc
                        #[serde(rename = #key)]
                        pub #fident: #ty,
                    });
                } else {
                    fields.push(quote! {
                        #fdoc
                        #[serde(rename = #key, default, skip_serializing_if = "::core::option::Option::is_none")]
                        pub #fident: ::core::option::Option<#ty>,
                    });
                }
            }
        }
        let deny = (schema.get("additionalProperties") == Some(&Value::Bool(false)))
            .then(|| quote!(#[serde(deny_unknown_fields)]));
        self.items.push(quote! {
            #[doc = #doc]
            #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::cmp::PartialEq, #p::serde::Serialize, #p::serde::Deserialize)]
            #[serde(crate = #serde_path)]
            #deny
            pub struct #ident {
                #(#fields)*
            }
        });
        ident
    }

    /// The Rust type of a property.
    fn field_type(&mut self, nested_name: &str, schema: &Value) -> TokenStream {
        let p = self.private.clone();
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => quote!(::std::string::String),
            Some("integer") => quote!(i64),
            Some("number") => quote!(f64),
            Some("boolean") => quote!(bool),
            Some("array") => match schema.get("items") {
                Some(items) if items.is_object() => {
                    let inner = self.field_type(&format!("{nested_name}Item"), items);
                    quote!(::std::vec::Vec<#inner>)
                }
                _ => quote!(::std::vec::Vec<#p::serde_json::Value>),
            },
            Some("object")
                if schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|m| !m.is_empty()) =>
            {
                let doc = schema
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("A nested object.")
                    .to_string();
                let ident = self.object(nested_name, schema, &doc);
                quote!(#ident)
            }
            Some("object") => {
                quote!(#p::serde_json::Map<::std::string::String, #p::serde_json::Value>)
            }
            _ => quote!(#p::serde_json::Value),
        }
    }
}

/// `PushToServiceInput` for `pushToService`.
pub fn type_name(action: &str, suffix: &str) -> syn::Ident {
    format_ident!("{}{}", args::pascal_case(action), suffix)
}
