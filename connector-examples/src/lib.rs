//! Connectors written in Rust with `connector-macros`, each run against a loopback server in
//! this crate's tests:
//!
//! - [`server_log`]: a pure-code connector (`#[connector]` struct and impl block);
//! - [`teams`]: a YAML spec compiled with `include_spec!`, mixing declarative actions with a
//!   `handler: code` action;
//! - [`crowdstrike`]: a session lifecycle (init, execute, cleanup) for real-time response.

pub mod crowdstrike;
pub mod server_log;
pub mod teams;

/// The spec files of the `#[connector]` examples: `(file name, text)`, the model in the spec
/// format as pretty JSON (valid YAML), for `connector schema` and `connector validate`.
pub fn rust_spec_files() -> Vec<(String, String)> {
    let docs = [(
        "server-log-rs.yaml",
        server_log::ServerLogConnector::spec_document(),
    )];
    docs.into_iter()
        .map(|(name, doc)| {
            let text = serde_json::to_string_pretty(&serde_json::Value::Object(doc))
                .expect("a JSON map always serializes");
            (name.to_string(), text + "\n")
        })
        .collect()
}
