//! One model, same bytes: the schema document produced through `include_spec!` is
//! byte-identical to `connector schema <file>` for every spec in `specs/`, and the spec file of
//! a `#[connector]` struct gives, through `connector schema`, exactly the document the
//! generated code produces.
//!
//! `connector schema` is run as a binary when it has been built (always under
//! `cargo test --workspace`); the committed golden files (which the CLI's own tests compare
//! with its output) are checked in every case.

use std::path::{Path, PathBuf};
use std::process::Command;

use connector_runtime::include_spec;

include_spec!("../../specs/bedrock.yaml");
include_spec!("../../specs/cases_webhook.yaml");
include_spec!("../../specs/crowdstrike.yaml");
include_spec!("../../specs/d3security.yaml");
include_spec!("../../specs/email.yaml");
include_spec!("../../specs/gemini.yaml");
include_spec!("../../specs/gen_ai.yaml");
include_spec!("../../specs/github.yaml");
include_spec!("../../specs/gmail.yaml");
include_spec!("../../specs/google_drive.yaml");
include_spec!("../../specs/index.yaml");
include_spec!("../../specs/inference.yaml");
include_spec!("../../specs/jira.yaml");
include_spec!("../../specs/jira_cloud.yaml");
include_spec!("../../specs/jira_service_management.yaml");
include_spec!("../../specs/microsoft_defender_endpoint.yaml");
include_spec!("../../specs/notion.yaml");
include_spec!("../../specs/opsgenie.yaml");
include_spec!("../../specs/pagerduty.yaml");
include_spec!("../../specs/resilient.yaml");
include_spec!("../../specs/salesforce.yaml");
include_spec!("../../specs/sentinelone.yaml");
include_spec!("../../specs/server_log.yaml");
include_spec!("../../specs/servicenow.yaml");
include_spec!("../../specs/servicenow_itom.yaml");
include_spec!("../../specs/servicenow_sir.yaml");
include_spec!("../../specs/sharepoint_online.yaml");
include_spec!("../../specs/slack.yaml");
include_spec!("../../specs/slack_api.yaml");
include_spec!("../../specs/slack_user.yaml");
include_spec!("../../specs/swimlane.yaml");
include_spec!("../../specs/teams.yaml");
include_spec!("../../specs/thehive.yaml");
include_spec!("../../specs/tines.yaml");
include_spec!("../../specs/torq.yaml");
include_spec!("../../specs/webhook.yaml");
include_spec!("../../specs/xmatters.yaml");
include_spec!("../../specs/xsoar.yaml");

type SchemaFn = fn() -> Result<String, connector_runtime::ActionError>;

/// Every spec compiled above: (file name, its generated `schema_json`).
const COMPILED: &[(&str, SchemaFn)] = &[
    ("bedrock.yaml", bedrock::schema_json),
    ("cases_webhook.yaml", cases_webhook::schema_json),
    ("crowdstrike.yaml", crowdstrike::schema_json),
    ("d3security.yaml", d3security::schema_json),
    ("email.yaml", email::schema_json),
    ("gemini.yaml", gemini::schema_json),
    ("gen_ai.yaml", gen_ai::schema_json),
    ("github.yaml", github::schema_json),
    ("gmail.yaml", gmail::schema_json),
    ("google_drive.yaml", google_drive::schema_json),
    ("index.yaml", index::schema_json),
    ("inference.yaml", inference::schema_json),
    ("jira.yaml", jira::schema_json),
    ("jira_cloud.yaml", jira_cloud::schema_json),
    (
        "jira_service_management.yaml",
        jira_service_management::schema_json,
    ),
    (
        "microsoft_defender_endpoint.yaml",
        microsoft_defender_endpoint::schema_json,
    ),
    ("notion.yaml", notion::schema_json),
    ("opsgenie.yaml", opsgenie::schema_json),
    ("pagerduty.yaml", pagerduty::schema_json),
    ("resilient.yaml", resilient::schema_json),
    ("salesforce.yaml", salesforce::schema_json),
    ("sentinelone.yaml", sentinelone::schema_json),
    ("server_log.yaml", server_log::schema_json),
    ("servicenow.yaml", servicenow::schema_json),
    ("servicenow_itom.yaml", servicenow_itom::schema_json),
    ("servicenow_sir.yaml", servicenow_sir::schema_json),
    ("sharepoint_online.yaml", sharepoint_online::schema_json),
    ("slack.yaml", slack::schema_json),
    ("slack_api.yaml", slack_api::schema_json),
    ("slack_user.yaml", slack_user::schema_json),
    ("swimlane.yaml", swimlane::schema_json),
    ("teams.yaml", teams::schema_json),
    ("thehive.yaml", thehive::schema_json),
    ("tines.yaml", tines::schema_json),
    ("torq.yaml", torq::schema_json),
    ("webhook.yaml", webhook::schema_json),
    ("xmatters.yaml", xmatters::schema_json),
    ("xsoar.yaml", xsoar::schema_json),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `connector` binary of this build, when it exists.
fn connector_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/<test> -> target/<profile>/connector
    let bin = exe
        .parent()?
        .parent()?
        .join(format!("connector{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

fn cli_schema(bin: &Path, file: &Path) -> String {
    let out = Command::new(bin)
        .arg("schema")
        .arg(file)
        .output()
        .expect("run connector schema");
    assert!(
        out.status.success(),
        "connector schema {} failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn every_bundled_spec_is_compiled_here() {
    let mut on_disk: Vec<String> = std::fs::read_dir(root().join("specs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let compiled: Vec<&str> = COMPILED.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        on_disk, compiled,
        "add an include_spec! line and a COMPILED entry for each new spec"
    );
}

#[test]
fn include_spec_schema_equals_the_golden_files() {
    for (file, schema) in COMPILED {
        let stem = file.trim_end_matches(".yaml");
        let golden =
            std::fs::read_to_string(root().join(format!("tests/golden/{stem}.schema.json")))
                .unwrap_or_else(|e| panic!("{stem}: {e}"));
        let generated = schema().unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            generated == golden,
            "{file}: include_spec! schema differs from the golden file"
        );
    }
}

#[test]
fn include_spec_schema_equals_connector_schema_output() {
    let Some(bin) = connector_bin() else {
        eprintln!("the connector binary is not built; compared with the golden files only");
        return;
    };
    for (file, schema) in COMPILED {
        let cli = cli_schema(&bin, &root().join("specs").join(file));
        let generated = schema().unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            cli == generated,
            "{file}: include_spec! and `connector schema` differ"
        );
    }
}

#[test]
fn struct_connector_spec_file_gives_the_same_schema_through_the_cli_model() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in connector_examples::rust_spec_files() {
        let path = dir.path().join(&name);
        std::fs::write(&path, &text).unwrap();
        let generated = match name.as_str() {
            "server-log-rs.yaml" => {
                connector_examples::server_log::ServerLogConnector::schema_json().unwrap()
            }
            other => panic!("no generated schema for {other}"),
        };
        // What `connector schema` does: load the file, export the document.
        let loaded = connector_spec::load_file(&path, &Default::default());
        assert!(!loaded.has_errors(), "{name}:\n{}", loaded.render(false));
        let exported = connector_spec::export::to_pretty_json(
            &connector_spec::export::schema_document(&loaded.spec.unwrap()),
        );
        assert!(
            exported == generated,
            "{name}: loader + export differs from the generated code"
        );
        if let Some(bin) = connector_bin() {
            assert!(
                cli_schema(&bin, &path) == generated,
                "{name}: `connector schema` differs from the generated code"
            );
        }
    }
}
