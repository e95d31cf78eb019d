//! Export: schema documents, uiSchemas, fingerprints and the catalog.

use connector_spec::auth::AuthTypeId;
use connector_spec::export::{
    MANIFEST_FILE, RUNTIME_VERSION, Release, export_catalog, export_release, fingerprint,
    schema_document, spec_source_path, to_pretty_json, ui_schema,
};
use connector_spec::model::*;
use connector_spec::output::OutputMapping;
use indexmap::IndexMap;
use serde_json::{Value, json};

const CANARY: &str = "CANARY-s3cr3t-value-7f3a";

fn http_action(path: &str) -> Action {
    Action {
        description: "Post a message to a channel".into(),
        is_tool: true,
        scope: ActionScope::Write,
        input: json!({
            "type": "object",
            "required": ["channel", "text"],
            "properties": {
                "text": {
                    "type": "string", "maxLength": 4000,
                    "x-ui": { "widget": "textarea", "label": "Message", "order": 2,
                              "helpText": "Markdown is supported" }
                },
                "channel": {
                    "type": "string", "maxLength": 64,
                    "x-ui": { "widget": "select", "order": 1,
                              "optionsFrom": { "action": "listChannels", "valuePath": "$.id",
                                               "labelPath": "$.name" } }
                },
                "blocks": {
                    "type": "string", "maxLength": 10000,
                    "x-ui": { "widget": "json", "section": "Advanced",
                              "when": { "field": "text", "equals": "" } }
                }
            }
        }),
        output: Some(json!({ "type": "object", "properties": { "ts": { "type": "string" } } })),
        supports_streaming: false,
        implementation: Implementation::Http {
            request: Request {
                method: HttpMethod::Post,
                path: Some(path.into()),
                url: None,
                query: IndexMap::new(),
                headers: IndexMap::new(),
                body: Some(Body::Json(json!({ "channel": "{{ input.channel }}" }))),
                idempotency_key: None,
            },
            response: Some(ResponseMapping {
                output: Some(OutputMapping::parse(json!("$.message")).unwrap()),
                errors: vec![ErrorRule {
                    when: Condition {
                        path: Some("$.ok".parse().unwrap()),
                        equals: Some(json!(false)),
                        ..Condition::default()
                    },
                    class: ErrorClass::User,
                    message: Some("{{ response.error }}".into()),
                }],
                format: None,
            }),
        },
        pagination: None,
        streaming: None,
        session: None,
        max_response_bytes: None,
        usage: None,
    }
}

fn code_action() -> Action {
    Action {
        description: "List channels".into(),
        is_tool: false,
        scope: ActionScope::Read,
        input: empty_object_schema(),
        output: None,
        supports_streaming: true,
        implementation: Implementation::Code {
            handler: HandlerKind::Code,
        },
        pagination: None,
        streaming: None,
        session: None,
        max_response_bytes: None,
        usage: None,
    }
}

fn auth_ref(kind: AuthTypeId) -> AuthTypeRef {
    AuthTypeRef {
        kind,
        recommended: false,
        defaults: IndexMap::new(),
    }
}

/// A connector accepting several auth types, with a recommended one that is not first.
fn slack() -> ConnectorSpec {
    let mut oauth = auth_ref(AuthTypeId::OauthAuthorizationCode);
    oauth.recommended = true;
    oauth.defaults.insert(
        "authorizationUrl".into(),
        json!("https://slack.com/oauth/v2/authorize"),
    );
    oauth.defaults.insert(
        "tokenUrl".into(),
        json!("https://slack.com/api/oauth.v2.access"),
    );
    oauth.defaults.insert("scope".into(), json!("chat:write"));
    let mut ears = auth_ref(AuthTypeId::Ears);
    ears.defaults.insert("provider".into(), json!("slack"));

    let mut actions = IndexMap::new();
    actions.insert("postMessage".to_string(), http_action("/chat.postMessage"));
    actions.insert("listChannels".to_string(), code_action());

    let mut headers = IndexMap::new();
    headers.insert("Content-Type".into(), "application/json".into());

    ConnectorSpec {
        schema_ref: None,
        id: ".slack_api".into(),
        display_name: "Slack API".into(),
        description: "Post messages and read channels in Slack".into(),
        minimum_license: License::Gold,
        supported_feature_ids: vec!["alerting".into(), "workflows".into()],
        icon: Some("logoSlack".into()),
        docs_url: Some("https://api.slack.com".into()),
        base_url: Some("https://slack.com/api".into()),
        auth: AuthSpec {
            types: vec![
                auth_ref(AuthTypeId::Bearer),
                oauth,
                ears,
                auth_ref(AuthTypeId::Basic),
                auth_ref(AuthTypeId::ApiKeyHeader),
                auth_ref(AuthTypeId::Mtls),
                auth_ref(AuthTypeId::Headers),
            ],
            headers,
            account: None,
        },
        config: json!({
            "type": "object",
            "properties": {
                "apiUrl": {
                    "type": "string", "format": "uri", "default": "https://slack.com/api",
                    "x-ui": { "widget": "url", "label": "API URL", "order": 2,
                              "placeholder": "https://slack.com/api" }
                },
                "team": {
                    "type": "string",
                    "x-ui": { "label": "Team", "order": 1, "helpText": "Workspace name" }
                },
                "extra": {
                    "type": "object",
                    "additionalProperties": { "type": "string" },
                    "x-ui": { "widget": "keyValue" }
                },
                "nested": {
                    "type": "object",
                    "properties": {
                        "b": { "type": "string", "x-ui": { "order": 2 } },
                        "a": { "type": "string", "x-ui": { "order": 1, "widget": "hidden" } }
                    }
                }
            }
        }),
        secrets: json!({
            "type": "object",
            "required": ["signingSecret"],
            "properties": {
                // A spec should never carry a secret value; if one does, export must drop it.
                "signingSecret": { "type": "string", "default": CANARY, "examples": [CANARY] },
                "extraSecret": {
                    "type": "string",
                    "x-ui": { "label": "Extra", "widget": "text", "order": 1 }
                }
            }
        }),
        policies: Policies {
            retry: Some(RetryPolicy {
                presets: vec![RetryPreset::RateLimit],
                status_codes: vec![],
                max_retries: 3,
                backoff: Backoff::default(),
                max_wait_ms: 30_000,
                retry_non_idempotent: false,
            }),
            ..Policies::default()
        },
        actions,
        test: Some(ConnectionTest {
            description: None,
            request: Some(Request {
                method: HttpMethod::Post,
                path: Some("/auth.test".into()),
                url: None,
                query: IndexMap::new(),
                headers: IndexMap::new(),
                body: None,
                idempotency_key: None,
            }),
            response: None,
            action: None,
            input: None,
            handler: None,
        }),
        hooks: Hooks::default(),
        sessions: Default::default(),
    }
}

fn webhook() -> ConnectorSpec {
    let mut spec = slack();
    spec.id = ".webhook".into();
    spec.display_name = "Webhook".into();
    spec.minimum_license = License::Basic;
    spec.auth = AuthSpec {
        types: vec![
            auth_ref(AuthTypeId::WebhookUrl),
            auth_ref(AuthTypeId::None),
            auth_ref(AuthTypeId::OauthClientCredentials),
            auth_ref(AuthTypeId::AwsSigv4),
            auth_ref(AuthTypeId::ApiKeyQuery),
        ],
        headers: IndexMap::new(),
        account: None,
    };
    spec.secrets = empty_object_schema();
    spec.actions.shift_remove("listChannels");
    spec
}

#[track_caller]
fn assert_meta_valid(schema: &Value, what: &str) {
    if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
        panic!(
            "{what} is not a valid 2020-12 schema: {e} at {}",
            e.instance_path()
        );
    }
    // Compiling catches what the meta-schema cannot (bad regexes, unresolvable refs).
    if let Err(e) = jsonschema::draft202012::new(schema) {
        panic!("{what} does not compile: {e}");
    }
}

#[test]
fn document_and_every_embedded_schema_are_valid_2020_12() {
    for spec in [slack(), webhook()] {
        let doc = schema_document(&spec);
        assert_eq!(
            doc["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(doc["$id"], format!("urn:connector:{}", spec.id));
        if let Err(e) = jsonschema::meta::validate(&doc) {
            panic!("document is not valid: {e} at {}", e.instance_path());
        }
        assert_meta_valid(&doc, "the document");
        assert_meta_valid(&doc["config"], "config");
        assert_meta_valid(&doc["secrets"], "secrets");
        assert_meta_valid(&doc["auth"], "auth");
        for branch in doc["auth"]["oneOf"].as_array().unwrap() {
            assert_meta_valid(branch, &format!("auth branch {}", branch["x-authType"]));
        }
        for (name, action) in doc["actions"].as_object().unwrap() {
            assert_meta_valid(&action["input"], &format!("{name} input"));
            assert_meta_valid(&action["output"], &format!("{name} output"));
        }
    }
}

#[test]
fn document_carries_metadata_and_actions_in_spec_order() {
    let doc = schema_document(&slack());
    assert_eq!(doc["id"], ".slack_api");
    assert_eq!(doc["displayName"], "Slack API");
    assert_eq!(
        doc["description"],
        "Post messages and read channels in Slack"
    );
    assert_eq!(doc["minimumLicense"], "gold");
    assert_eq!(doc["supportedFeatureIds"], json!(["alerting", "workflows"]));
    assert_eq!(doc["icon"], "logoSlack");
    assert_eq!(doc["docsUrl"], "https://api.slack.com");
    assert_eq!(
        doc["auth"]["x-headers"],
        json!({ "Content-Type": "application/json" })
    );

    let actions = doc["actions"].as_object().unwrap();
    assert_eq!(
        actions.keys().collect::<Vec<_>>(),
        ["postMessage", "listChannels"]
    );
    let post = &actions["postMessage"];
    assert_eq!(post["handler"], "http");
    assert_eq!(post["isTool"], true);
    assert_eq!(post["scope"], "write");
    assert_eq!(post["supportsStreaming"], false);
    assert_eq!(post["input"]["required"], json!(["channel", "text"]));
    assert_eq!(post["output"]["properties"]["ts"]["type"], "string");
    let list = &actions["listChannels"];
    assert_eq!(list["handler"], "code");
    assert_eq!(list["supportsStreaming"], true);
    assert_eq!(list["output"], json!({}), "no declared output: any value");
    // Request details are the runtime's business, not the form's.
    assert!(post.get("request").is_none());
}

#[test]
fn secrets_are_write_only_and_sensitive_and_never_carry_values() {
    let spec = slack();
    let doc = schema_document(&spec);
    let secrets = doc["secrets"]["properties"].as_object().unwrap();
    assert_eq!(secrets.len(), 2);
    for (name, prop) in secrets {
        assert_eq!(prop["writeOnly"], true, "{name}");
        assert_eq!(prop["x-ui"]["sensitive"], true, "{name}");
    }
    // Existing hints are kept next to the sensitive mark.
    assert_eq!(secrets["extraSecret"]["x-ui"]["label"], "Extra");

    for branch in doc["auth"]["oneOf"].as_array().unwrap() {
        let kind = AuthTypeId::parse(branch["x-authType"].as_str().unwrap()).unwrap();
        let secret_names = kind.secrets_schema()["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>();
        for name in secret_names {
            let prop = &branch["properties"][&name];
            assert_eq!(prop["writeOnly"], true, "{kind} {name}");
            assert_eq!(prop["x-ui"]["sensitive"], true, "{kind} {name}");
        }
        // Config properties are not marked.
        for name in kind.config_schema()["properties"]
            .as_object()
            .unwrap()
            .keys()
        {
            assert!(
                branch["properties"][name].get("writeOnly").is_none(),
                "{kind} {name}"
            );
        }
    }

    // Canary: a value a spec wrongly attached to a secret never reaches any export.
    let catalog = export_catalog(std::slice::from_ref(&spec));
    for file in &catalog {
        assert!(
            !file.contents.contains(CANARY),
            "{} leaks a secret",
            file.path
        );
    }
    assert!(!to_pretty_json(&doc).contains(CANARY));
    assert!(!fingerprint(&spec).contains(CANARY));
}

#[test]
fn auth_branches_are_discriminated_by_auth_type() {
    let doc = schema_document(&slack());
    let auth = &doc["auth"];
    assert_eq!(auth["discriminator"]["propertyName"], "authType");
    assert_eq!(auth["required"], json!(["authType"]));
    let branches = auth["oneOf"].as_array().unwrap();
    let ids: Vec<&str> = branches
        .iter()
        .map(|b| b["properties"]["authType"]["const"].as_str().unwrap())
        .collect();
    // The recommended type comes first; the rest keep spec order.
    assert_eq!(
        ids,
        [
            "oauth_authorization_code",
            "bearer",
            "ears",
            "basic",
            "api_key_header",
            "mtls",
            "headers"
        ]
    );
    assert_eq!(branches[0]["x-recommended"], true);
    assert!(branches[1].get("x-recommended").is_none());

    for branch in branches {
        let id = branch["properties"]["authType"]["const"].as_str().unwrap();
        let kind = AuthTypeId::parse(id).unwrap();
        assert_eq!(branch["type"], "object");
        assert_eq!(branch["title"], kind.title());
        assert_eq!(branch["additionalProperties"], false);
        assert!(
            branch["required"]
                .as_array()
                .unwrap()
                .contains(&json!("authType"))
        );
        let expected_mode = match kind {
            AuthTypeId::OauthAuthorizationCode | AuthTypeId::Ears => "per_user",
            _ => "shared",
        };
        assert_eq!(branch["x-authMode"], expected_mode, "{id}");
    }

    // Spec defaults become schema defaults on the auth type's config fields.
    let oauth = &branches[0]["properties"];
    assert_eq!(
        oauth["authorizationUrl"]["default"],
        "https://slack.com/oauth/v2/authorize"
    );
    assert_eq!(oauth["scope"]["default"], "chat:write");
    assert_eq!(oauth["clientSecret"]["writeOnly"], true);
    assert!(oauth["clientSecret"].get("default").is_none());
    assert_eq!(branches[2]["properties"]["provider"]["default"], "slack");

    // Exactly one branch accepts a given credential set.
    let validator = jsonschema::draft202012::new(auth).unwrap();
    assert!(validator.is_valid(&json!({ "authType": "bearer", "token": "t" })));
    assert!(!validator.is_valid(&json!({ "authType": "bearer" })));
    assert!(!validator.is_valid(&json!({ "authType": "kerberos" })));
    assert!(validator.is_valid(&json!({ "authType": "ears", "provider": "google" })));
    assert!(
        !validator.is_valid(&json!({ "authType": "ears", "provider": "google", "token": "t" }))
    );
}

#[test]
fn ui_schema_follows_x_ui_hints() {
    let doc = schema_document(&slack());
    let ui = &doc["uiSchema"];

    let config = &ui["config"];
    assert_eq!(
        config["ui:order"],
        json!(["team", "apiUrl", "extra", "nested"])
    );
    assert_eq!(config["apiUrl"]["ui:widget"], "uri");
    assert_eq!(config["apiUrl"]["ui:title"], "API URL");
    assert_eq!(config["apiUrl"]["ui:placeholder"], "https://slack.com/api");
    assert_eq!(config["team"]["ui:help"], "Workspace name");
    assert_eq!(config["extra"]["ui:field"], "keyValue");
    assert_eq!(config["nested"]["ui:order"], json!(["a", "b"]));
    assert_eq!(config["nested"]["a"]["ui:widget"], "hidden");

    let post = &ui["actions"]["postMessage"];
    assert_eq!(post["ui:order"], json!(["channel", "text", "blocks"]));
    assert_eq!(post["text"]["ui:widget"], "textarea");
    assert_eq!(post["text"]["ui:help"], "Markdown is supported");
    assert_eq!(post["channel"]["ui:widget"], "select");
    assert_eq!(
        post["channel"]["ui:options"]["optionsFrom"]["action"],
        "listChannels"
    );
    assert_eq!(post["blocks"]["ui:widget"], "textarea");
    assert_eq!(post["blocks"]["ui:options"]["language"], "json");
    assert_eq!(post["blocks"]["ui:options"]["section"], "Advanced");
    assert_eq!(post["blocks"]["ui:options"]["when"]["field"], "text");
    assert_eq!(ui["actions"]["listChannels"], json!({}));

    // Secrets without a widget are masked; an explicit widget wins.
    assert_eq!(ui["secrets"]["signingSecret"]["ui:widget"], "password");
    assert_eq!(ui["secrets"]["extraSecret"]["ui:widget"], "text");

    // One uiSchema per auth branch, keyed by auth type id; the discriminator is hidden.
    let oauth = &ui["auth"]["oauth_authorization_code"];
    assert_eq!(oauth["authType"]["ui:widget"], "hidden");
    assert_eq!(oauth["authorizationUrl"]["ui:widget"], "uri");
    assert_eq!(oauth["clientSecret"]["ui:widget"], "password");
    assert_eq!(oauth["scopeParameter"]["ui:options"]["section"], "Advanced");
    assert_eq!(ui["auth"]["mtls"]["certificate"]["ui:widget"], "file");
    assert_eq!(ui["auth"]["headers"]["headers"]["ui:field"], "keyValue");
    let order = oauth["ui:order"].as_array().unwrap();
    assert_eq!(
        order.len(),
        doc["auth"]["oneOf"][0]["properties"]
            .as_object()
            .unwrap()
            .len()
    );
    assert_eq!(order[0], "authorizationUrl");
    assert_eq!(
        order.last().unwrap(),
        "authType",
        "unordered fields go last"
    );

    // The x-ui vocabulary stays inline in the schemas.
    assert_eq!(
        doc["config"]["properties"]["apiUrl"]["x-ui"]["widget"],
        "url"
    );
}

#[test]
fn ui_schema_of_a_schema_without_hints_is_empty() {
    assert_eq!(ui_schema(&json!({ "type": "object" })), json!({}));
    assert_eq!(ui_schema(&json!(true)), json!({}));
    assert_eq!(
        ui_schema(&json!({
            "type": "array",
            "items": { "type": "object", "properties": { "x": { "x-ui": { "label": "X" } } } }
        })),
        json!({ "items": { "x": { "ui:title": "X" } } })
    );
}

#[test]
fn fingerprint_tracks_behaviour_only() {
    let base = slack();
    let fp = fingerprint(&base);
    assert!(fp.starts_with("sha256:"));
    assert_eq!(fp.len(), "sha256:".len() + 64);
    assert_eq!(fp, fingerprint(&base.clone()));

    let mut features = base.clone();
    features.supported_feature_ids = vec!["security".into()];
    assert_eq!(
        fingerprint(&features),
        fp,
        "supportedFeatureIds is packaging"
    );

    let mut presentation = base.clone();
    presentation.description = "Something else entirely".into();
    presentation.display_name = "Slack".into();
    presentation.icon = None;
    presentation.docs_url = None;
    assert_eq!(fingerprint(&presentation), fp, "presentation only");

    let mut path = base.clone();
    path.actions["postMessage"] = http_action("/chat.postEphemeral");
    assert_ne!(fingerprint(&path), fp, "a request path is behaviour");

    let mut policy = base.clone();
    policy.policies.retry.as_mut().unwrap().max_retries = 5;
    assert_ne!(fingerprint(&policy), fp, "a policy is behaviour");

    let mut auth = base.clone();
    auth.auth.types.pop();
    assert_ne!(fingerprint(&auth), fp, "auth is behaviour");

    let mut schema = base.clone();
    schema.config["properties"]["team"]["maxLength"] = json!(10);
    assert_ne!(fingerprint(&schema), fp, "schemas are behaviour");

    let mut test = base.clone();
    test.test = None;
    assert_ne!(fingerprint(&test), fp, "the connection test is behaviour");
}

#[test]
fn fingerprint_ignores_map_key_order() {
    let base = slack();
    let mut reordered = base.clone();
    // Same schema, keys written in another order.
    reordered.config = json!({
        "properties": {
            "nested": {
                "properties": {
                    "a": { "x-ui": { "widget": "hidden", "order": 1 }, "type": "string" },
                    "b": { "x-ui": { "order": 2 }, "type": "string" }
                },
                "type": "object"
            },
            "extra": {
                "x-ui": { "widget": "keyValue" },
                "additionalProperties": { "type": "string" },
                "type": "object"
            },
            "team": {
                "x-ui": { "helpText": "Workspace name", "order": 1, "label": "Team" },
                "type": "string"
            },
            "apiUrl": {
                "x-ui": { "placeholder": "https://slack.com/api", "order": 2, "label": "API URL",
                          "widget": "url" },
                "default": "https://slack.com/api",
                "format": "uri",
                "type": "string"
            }
        },
        "type": "object"
    });
    assert_ne!(reordered.config.to_string(), base.config.to_string());
    let oauth = &mut reordered.auth.types[1].defaults;
    oauth.reverse();
    assert_eq!(fingerprint(&reordered), fingerprint(&base));
}

#[test]
fn catalog_is_complete_sorted_and_deterministic() {
    let specs = [slack(), webhook()];
    let first = export_catalog(&specs);
    let second = export_catalog(&specs);
    assert_eq!(first, second);
    let reversed = export_catalog(&[webhook(), slack()]);
    assert_eq!(first, reversed, "input order does not matter");

    let paths: Vec<&str> = first.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "connectors/slack_api.json",
            "connectors/webhook.json",
            "index.json",
            "manifest.json"
        ]
    );
    for file in &first {
        assert!(file.contents.ends_with("}\n"), "{}", file.path);
    }
    assert_eq!(
        first[0].contents,
        to_pretty_json(&schema_document(&slack()))
    );
    assert_eq!(
        first[1].contents,
        to_pretty_json(&schema_document(&webhook()))
    );

    let index: Value = serde_json::from_str(&first[2].contents).unwrap();
    let connectors = index["connectors"].as_array().unwrap();
    assert_eq!(connectors.len(), 2);
    let entry = &connectors[0];
    assert_eq!(entry["id"], ".slack_api");
    assert_eq!(entry["displayName"], "Slack API");
    assert_eq!(entry["minimumLicense"], "gold");
    assert_eq!(entry["file"], "connectors/slack_api.json");
    assert_eq!(entry["fingerprint"], fingerprint(&slack()));
    assert_eq!(entry["actions"], json!(["postMessage", "listChannels"]));
    assert_eq!(entry["authTypes"][1]["type"], "oauth_authorization_code");
    assert_eq!(entry["authTypes"][1]["authMode"], "per_user");
    assert_eq!(entry["authTypes"][0]["authMode"], "shared");
    assert_eq!(connectors[1]["id"], ".webhook");

    let manifest: Value = serde_json::from_str(&first[3].contents).unwrap();
    assert!(manifest["formatVersion"].is_u64());
    assert_eq!(
        manifest["connectors"],
        json!([
            { "id": ".slack_api", "supportedFeatureIds": ["alerting", "workflows"],
              "fingerprint": fingerprint(&slack()) },
            { "id": ".webhook", "supportedFeatureIds": ["alerting", "workflows"],
              "fingerprint": fingerprint(&webhook()) }
        ])
    );
    assert_eq!(manifest["minimumRuntimeVersion"], RUNTIME_VERSION);
    assert!(manifest.get("catalogVersion").is_none(), "no version given");
    assert_manifest_lists(&first);
}

/// The manifest lists every other file, sorted, with its size and SHA-256.
fn assert_manifest_lists(files: &[connector_spec::export::CatalogFile]) {
    let manifest = files.iter().find(|f| f.path == MANIFEST_FILE).unwrap();
    let manifest: Value = serde_json::from_str(&manifest.contents).unwrap();
    let expected: Vec<Value> = files
        .iter()
        .filter(|f| f.path != MANIFEST_FILE)
        .map(|f| {
            use sha2::Digest;
            json!({
                "path": f.path,
                "bytes": f.contents.len(),
                "sha256": hex::encode(sha2::Sha256::digest(f.contents.as_bytes())),
            })
        })
        .collect();
    assert_eq!(manifest["files"], Value::Array(expected));
}

#[test]
fn a_release_ships_the_spec_sources_and_its_version() {
    let mut release = Release {
        version: Some("2026.12.0".into()),
        ..Release::default()
    };
    release.sources.insert(
        ".webhook".into(),
        "id: .webhook\n# the source, byte for byte\n".into(),
    );
    let files = export_release(&[slack(), webhook()], &release);
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "connectors/slack_api.json",
            "connectors/webhook.json",
            "index.json",
            "manifest.json",
            "specs/webhook.yaml"
        ]
    );
    assert_eq!(files[4].contents, release.sources[".webhook"]);
    let manifest: Value = serde_json::from_str(&files[3].contents).unwrap();
    assert_eq!(manifest["catalogVersion"], "2026.12.0");
    assert_manifest_lists(&files);
    assert_eq!(spec_source_path("../x"), "specs/._x.yaml");
}

#[test]
fn catalog_paths_stay_inside_connectors() {
    let mut odd = webhook();
    odd.id = "../etc/passwd".into();
    let files = export_catalog(&[odd]);
    assert_eq!(files[0].path, "connectors/._etc_passwd.json");
}

#[test]
fn pretty_json_is_two_space_with_trailing_newline() {
    assert_eq!(
        to_pretty_json(&json!({ "b": 1, "a": [true] })),
        "{\n  \"b\": 1,\n  \"a\": [\n    true\n  ]\n}\n"
    );
}

/// Every bundled spec the loader accepts exports a meta-valid document whose embedded schemas
/// are meta-valid too. (Whether each bundled spec loads is the loader's tests' concern.)
#[test]
fn bundled_specs_export_valid_documents() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../specs");
    let files = connector_spec::collect_spec_files(&[dir]).unwrap_or_default();
    let mut specs = Vec::new();
    for file in &files {
        let loaded = connector_spec::load_file(file, &connector_spec::LoadOptions::default());
        match loaded.spec {
            Some(spec) => specs.push(spec),
            None => eprintln!("skipping {}: it does not load", file.display()),
        }
    }
    assert!(!specs.is_empty(), "no bundled spec loads");
    for spec in &specs {
        let doc = schema_document(spec);
        if let Err(e) = jsonschema::meta::validate(&doc) {
            panic!(
                "{}: document is not valid: {e} at {}",
                spec.id,
                e.instance_path()
            );
        }
        for pointer in ["/config", "/secrets", "/auth"] {
            assert_meta_valid(
                &doc.pointer(pointer).unwrap().clone(),
                &format!("{} {pointer}", spec.id),
            );
        }
        for (name, action) in doc["actions"].as_object().unwrap() {
            assert_meta_valid(&action["input"], &format!("{} {name} input", spec.id));
            assert_meta_valid(&action["output"], &format!("{} {name} output", spec.id));
        }
    }
    let catalog = export_catalog(&specs);
    assert_eq!(catalog.len(), specs.len() + 2);
}

/// A templated auth default is rendered when the instance is created: the form shows no
/// default for it and does not make the user fill it in; plain defaults stay.
#[test]
fn a_templated_auth_default_is_neither_a_form_default_nor_required() {
    let mut spec = webhook();
    let mut r = auth_ref(AuthTypeId::OauthClientCredentials);
    r.defaults.insert(
        "tokenUrl".into(),
        json!("https://login.example.com/{{ config.tenantId }}/token"),
    );
    r.defaults.insert("scope".into(), json!("api.read"));
    spec.auth.types = vec![r];
    let doc = schema_document(&spec);
    let branch = &doc["auth"]["oneOf"][0];
    assert!(
        branch["properties"]["tokenUrl"].get("default").is_none(),
        "{branch}"
    );
    assert_eq!(branch["properties"]["scope"]["default"], "api.read");
    let required = branch["required"].as_array().unwrap();
    assert!(!required.contains(&json!("tokenUrl")), "{branch}");
    assert!(required.contains(&json!("clientId")), "{branch}");
}

/// `private_key_jwt` needs the key and not the secret; the other methods the secret. The
/// exported branch says so with a condition over its merged config and secrets.
#[test]
fn client_credentials_branch_requires_the_credential_its_method_uses() {
    let mut spec = webhook();
    spec.auth.types = vec![auth_ref(AuthTypeId::OauthClientCredentials)];
    let doc = schema_document(&spec);
    let auth = &doc["auth"];
    assert_meta_valid(auth, "auth");
    let validator = jsonschema::draft202012::new(auth).unwrap();
    let base = json!({
        "authType": "oauth_client_credentials",
        "tokenUrl": "https://login.example.com/t", "clientId": "c"
    });
    let with = |extra: Value| {
        let mut v = base.clone();
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        validator.is_valid(&v)
    };
    assert!(with(json!({"clientSecret": "s"})));
    assert!(!with(json!({})), "the secret is required by default");
    assert!(!with(json!({"clientAuthentication": "client_secret_post"})));
    assert!(with(json!({
        "clientAuthentication": "private_key_jwt", "keyId": "k", "privateKey": "pem"
    })));
    assert!(!with(
        json!({"clientAuthentication": "private_key_jwt", "keyId": "k"})
    ));
    assert!(!with(
        json!({"clientAuthentication": "private_key_jwt", "privateKey": "pem"})
    ));
    assert!(!with(
        json!({"clientAuthentication": "private_key_jwt", "clientSecret": "s"})
    ));
    // The key is a secret like the others: write-only and sensitive.
    let props = &auth["oneOf"][0]["properties"];
    assert_eq!(props["privateKey"]["writeOnly"], true);
    assert_eq!(props["privateKey"]["x-ui"]["sensitive"], true);
}
