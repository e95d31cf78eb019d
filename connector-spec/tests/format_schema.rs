//! The spec format's JSON Schema: committed copy is fresh, meta-valid, and accepts every
//! bundled spec while rejecting what the loader rejects.

use std::path::{Path, PathBuf};

use connector_spec::export::to_pretty_json;
use connector_spec::format_schema::{FORMAT_SCHEMA_PATH, format_schema};
use connector_spec::source::SourceFile;
use connector_spec::yaml::{self, Budget};
use serde_json::{Value, json};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("connector-spec lives inside the workspace")
        .to_path_buf()
}

fn validator() -> jsonschema::Validator {
    jsonschema::draft202012::new(&format_schema()).expect("the format schema compiles")
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn yaml_to_json(name: &str, text: &str) -> Value {
    let source = SourceFile::new(name, text);
    let (root, diags) = yaml::parse(&source, Budget::default());
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "{name}: YAML errors: {diags:?}"
    );
    root.expect("a YAML document").to_json()
}

#[test]
fn committed_schema_is_fresh() {
    let path = workspace_root().join(FORMAT_SCHEMA_PATH);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = to_pretty_json(&format_schema());
    assert!(
        committed == fresh,
        "{} is stale or missing: run `cargo xtask bless` to regenerate",
        path.display()
    );
}

#[test]
fn format_schema_is_valid_2020_12() {
    let schema = format_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["$id"].is_string());
    assert!(schema["title"].is_string());
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!(
            "format schema is not a valid 2020-12 schema: {e} at {}",
            e.instance_path()
        );
    }
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(
        to_pretty_json(&format_schema()),
        to_pretty_json(&format_schema())
    );
}

#[test]
fn every_bundled_spec_validates() {
    let validator = validator();
    let dir = workspace_root().join("specs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")));
    paths.sort();
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("readable spec");
        let instance = yaml_to_json(&path.display().to_string(), &text);
        let errs = errors(&validator, &instance);
        assert!(errs.is_empty(), "{}:\n{}", path.display(), errs.join("\n"));
    }
}

const SAMPLE: &str = r#"
id: .sample
displayName: Sample
description: A sample connector.
minimumLicense: gold
supportedFeatureIds: [alerting]
baseUrl: https://api.example.com
auth:
  types:
    - bearer
    - type: oauth_authorization_code
      recommended: true
      defaults: { authorizationUrl: "https://example.com/a", tokenUrl: "https://example.com/t" }
  headers: { Content-Type: application/json, X-Version: 3 }
config:
  type: object
  properties:
    region: { type: string, x-ui: { widget: select, order: 1 } }
policies:
  retry: { presets: [rate_limit], statusCodes: [500], maxRetries: 2 }
  rateLimit: { strategy: header, resetHeader: Retry-After }
actions:
  post:
    description: Post something
    isTool: true
    scope: write
    input: { type: object, required: [text], properties: { text: { type: string, maxLength: 10 } } }
    request: { method: POST, path: /post, body: { json: { text: "{{ input.text }}" } } }
    response: { errors: [ { when: { path: "$.ok", equals: false }, class: user } ] }
  custom:
    description: Done in code
    scope: read
    handler: code
test:
  request: { method: GET, path: /ping }
"#;

fn sample() -> Value {
    yaml_to_json("sample.yaml", SAMPLE)
}

#[test]
fn accepts_a_sample_with_bare_and_map_auth_types() {
    let errs = errors(&validator(), &sample());
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[track_caller]
fn assert_rejected(instance: &Value, why: &str) {
    assert!(
        !validator().is_valid(instance),
        "the format schema should reject {why}"
    );
}

#[test]
fn action_is_exactly_one_implementation() {
    let mut both = sample();
    both["actions"]["post"]["handler"] = json!("code");
    assert_rejected(&both, "an action with both `request` and `handler`");

    let mut neither = sample();
    neither["actions"]["custom"]
        .as_object_mut()
        .unwrap()
        .remove("handler");
    assert_rejected(&neither, "an action with neither `request` nor `handler`");

    let mut response_on_code = sample();
    response_on_code["actions"]["custom"]["response"] = json!({});
    assert_rejected(&response_on_code, "a code action with a `response`");

    let mut typo = sample();
    typo["actions"]["post"]["reqest"] = json!({});
    assert_rejected(&typo, "an unknown action key");
}

#[test]
fn rejects_what_the_loader_rejects() {
    let mut bad_auth = sample();
    bad_auth["auth"]["types"][0] = json!("kerberos");
    assert_rejected(&bad_auth, "an unknown auth type id");

    let mut bad_schema = sample();
    bad_schema["config"] = json!({ "type": "bogus" });
    assert_rejected(&bad_schema, "a config that is not a JSON Schema");

    let mut bad_status = sample();
    bad_status["policies"]["retry"]["statusCodes"] = json!([42]);
    assert_rejected(&bad_status, "a status code outside 100..=599");

    let mut null_icon = sample();
    null_icon["icon"] = Value::Null;
    assert_rejected(&null_icon, "`null` for an optional field");

    let mut unknown = sample();
    unknown["colour"] = json!("blue");
    assert_rejected(&unknown, "an unknown top-level key");
}
