//! Snapshots of the generated code, rendered with prettyplease and compared with the committed
//! files in `tests/snapshots/`, so a change to what the macros emit shows up in review diffs.
//!
//! Refresh after an intended change: `UPDATE_SNAPSHOTS=1 cargo test -p connector-codegen --test snapshots`.

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

fn snapshot_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots")
}

fn render(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens.clone())
        .unwrap_or_else(|e| panic!("generated code does not parse: {e}\n{tokens}"));
    prettyplease::unparse(&file)
}

/// Compare with the committed snapshot, or write it when `UPDATE_SNAPSHOTS` is set.
fn check(name: &str, tokens: TokenStream) {
    let text = render(tokens);
    let path = snapshot_dir().join(format!("{name}.rs"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    // Paths of included spec files depend on the checkout; snapshots hold a placeholder.
    assert!(
        text == expected,
        "generated code for `{name}` changed; review and refresh with UPDATE_SNAPSHOTS=1\n--- expected\n{expected}\n--- actual\n{text}"
    );
}

/// The workspace root, with the checkout-dependent absolute path replaced in the output.
fn include(path: &str, extra: TokenStream) -> TokenStream {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let lit = syn::LitStr::new(path, proc_macro2::Span::call_site());
    let out = connector_codegen::include_spec(quote!(#lit #extra), &root);
    let root_text = root.display().to_string();
    let text = out.to_string().replace(&root_text, "$WORKSPACE");
    text.parse().unwrap()
}

#[test]
fn struct_connector() {
    check(
        "struct_connector",
        connector_codegen::connector(
            quote!(
                id = ".acme",
                display_name = "Acme",
                description = "Acme tickets.",
                license = "gold",
                features = ["workflows"],
                auth = ["bearer"]
            ),
            quote! {
                pub struct Acme {
                    /// The API's base URL.
                    #[field(label = "API URL", widget = "url", order = 1)]
                    pub api_url: String,
                    #[field(label = "Project", default = "OPS")]
                    pub project: Option<String>,
                    #[field(secret, label = "Signing key")]
                    pub signing_key: Secret,
                }
            },
        ),
    );
}

#[test]
fn impl_connector() {
    check(
        "impl_connector",
        connector_codegen::connector(
            quote!(session(
                name = "rtr",
                init = "open",
                id = "$.id",
                cleanup = "close"
            )),
            quote! {
                impl Acme {
                    /// Create a ticket.
                    #[action(scope = "write", tool)]
                    async fn create_ticket(&self, ctx: &ActionContext, input: NewTicket) -> Result<Ticket, ActionError> {
                        todo_in_snapshot()
                    }
                    /// Open a session.
                    #[action(scope = "write")]
                    async fn open(&self, ctx: &ActionContext, input: Open) -> Result<Opened, ActionError> {
                        todo_in_snapshot()
                    }
                    /// Run inside the session.
                    #[action(scope = "read", session = "rtr")]
                    async fn run(&self, ctx: &ActionContext, input: Run) -> Result<Ran, ActionError> {
                        todo_in_snapshot()
                    }
                    /// Close the session.
                    #[action(scope = "write")]
                    async fn close(&self, ctx: &ActionContext, input: Close) -> Result<(), ActionError> {
                        todo_in_snapshot()
                    }
                    async fn test(&self, ctx: &ActionContext) -> Result<Value, ActionError> {
                        todo_in_snapshot()
                    }
                }
            },
        ),
    );
}

#[test]
fn include_spec_with_code_actions_webhook() {
    check(
        "include_spec_webhook",
        include("specs/webhook.yaml", quote!()),
    );
}

#[test]
fn include_spec_declarative_slack_api() {
    check(
        "include_spec_slack_api",
        include("specs/slack_api.yaml", quote!()),
    );
}

#[test]
fn include_spec_jira_with_module_name() {
    check(
        "include_spec_jira",
        include("specs/jira.yaml", quote!(, module = jira_spec)),
    );
}

#[test]
fn errors_yield_the_fallback_and_every_error() {
    check(
        "errors_fallback",
        connector_codegen::connector(
            quote!(
                id = "acme",
                dispaly_name = "Acme",
                license = "silver",
                auth = ["bearr"]
            ),
            quote! {
                pub struct Acme {
                    #[field(lable = "x", widget = "dropdown")]
                    pub a: String,
                }
            },
        ),
    );
}

/// `include_spec!` diagnostics name the spec file relative to the crate root, as `cargo`
/// prints paths, whatever the directory of the file holding the macro.
#[test]
fn include_spec_errors_name_the_file_relative_to_the_crate_root() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let out =
        connector_codegen::include_spec(quote!("../tests/specs/invalid.yaml"), &base).to_string();
    let errors = &out[..out.find("pub mod").expect("the fallback module")];
    assert!(
        errors.contains("\"tests/specs/invalid.yaml:6:11: error[unknown-auth-type]"),
        "{errors}"
    );
    assert!(!errors.contains("../tests"), "{errors}");
}
