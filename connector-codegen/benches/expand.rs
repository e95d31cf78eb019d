//! Expansion time of `include_spec!` for every bundled spec (read, load and validate the spec,
//! generate the module's tokens), and of a `#[connector]` struct and impl block.
//!
//! `cargo bench -p connector-codegen --bench expand`

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use quote::quote;

fn bench(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<String> = std::fs::read_dir(root.join("specs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .map(|n| format!("specs/{n}"))
        .collect();
    files.sort();
    let inputs: Vec<proc_macro2::TokenStream> = files
        .iter()
        .map(|f| {
            let lit = syn::LitStr::new(f, proc_macro2::Span::call_site());
            quote!(#lit)
        })
        .collect();
    for (f, i) in files.iter().zip(&inputs) {
        let out = connector_codegen::include_spec(i.clone(), &root).to_string();
        assert!(
            !out.contains("compile_error"),
            "{f} does not expand cleanly"
        );
    }
    let mut g = c.benchmark_group("expand");
    g.bench_function(
        format!("include_spec_all_{}_bundled_specs", files.len()),
        |b| {
            b.iter(|| {
                for i in &inputs {
                    black_box(connector_codegen::include_spec(i.clone(), &root));
                }
            })
        },
    );
    let attr = quote!(
        id = ".acme",
        display_name = "Acme",
        description = "Acme.",
        license = "gold",
        auth = ["bearer"]
    );
    let item = quote! {
        pub struct Acme {
            #[field(label = "API URL", widget = "url", order = 1)]
            pub api_url: String,
            #[field(secret, label = "Key")]
            pub key: Secret,
        }
    };
    let imp = quote! {
        impl Acme {
            /// One.
            #[action(scope = "read", tool)]
            async fn one(&self, ctx: &ActionContext, input: In) -> Result<Out, ActionError> { run(input) }
            /// Two.
            #[action(scope = "write")]
            async fn two(&self, ctx: &ActionContext, input: In) -> Result<Out, ActionError> { run(input) }
        }
    };
    g.bench_function("connector_struct_and_impl", |b| {
        b.iter(|| {
            black_box(connector_codegen::connector(attr.clone(), item.clone()));
            black_box(connector_codegen::connector(quote!(), imp.clone()));
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
