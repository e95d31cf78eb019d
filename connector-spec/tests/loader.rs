//! Loader behaviours not covered by the invalid-spec corpus: what must be accepted.

use connector_spec::{Code, LoadOptions, load_str};

const BASE: &str = "id: .t\ndisplayName: T\ndescription: T\nminimumLicense: basic\nbaseUrl: https://api.example.com\nauth: { types: [bearer] }\n";

fn errors(extra: &str) -> Vec<(Code, usize, usize)> {
    let loaded = load_str("t.yaml", &format!("{BASE}{extra}"), &LoadOptions::default());
    loaded
        .located()
        .into_iter()
        .filter(|d| d.severity == connector_spec::Severity::Error)
        .map(|d| (d.code, d.line, d.column))
        .collect()
}

#[test]
fn connection_test_response_rules_may_read_the_response() {
    let e = errors(
        "actions:\n  a: { description: A, scope: read, handler: code }\ntest:\n  request: { method: POST, path: /auth.test }\n  response:\n    errors:\n      - when: { path: $.ok, equals: false }\n        message: \"{{ response.error }}\"\n",
    );
    assert!(e.is_empty(), "{e:?}");
}

#[test]
fn when_in_an_action_input_names_a_sibling_input_field() {
    let ok = errors(
        "actions:\n  a:\n    description: A\n    scope: read\n    handler: code\n    input:\n      type: object\n      properties:\n        kind: { type: string, enum: [x, y] }\n        extra: { type: string, maxLength: 5, x-ui: { when: { field: kind, equals: x } } }\n",
    );
    assert!(ok.is_empty(), "{ok:?}");
    let bad = errors(
        "actions:\n  a:\n    description: A\n    scope: read\n    handler: code\n    input:\n      type: object\n      properties:\n        kind: { type: string, enum: [x, y] }\n        extra: { type: string, maxLength: 5, x-ui: { when: { field: knd, equals: x } } }\n",
    );
    assert_eq!(bad, vec![(Code::UnknownField, 16, 69)]);
}

#[test]
fn every_error_in_a_file_is_reported_in_one_run() {
    let e = errors(
        "actions:\n  a:\n    descripton: A\n    scope: reed\n    request: { method: GET, path: \"/x/{{ input.nope }}\" }\n",
    );
    let codes: Vec<Code> = e.iter().map(|(c, _, _)| *c).collect();
    assert!(codes.contains(&Code::UnknownKey), "{e:?}");
    assert!(codes.contains(&Code::MissingKey), "{e:?}");
    assert!(codes.contains(&Code::InvalidValue), "{e:?}");
    assert!(codes.contains(&Code::UnresolvedReference), "{e:?}");
}

#[test]
fn empty_files_are_errors_and_a_byte_order_mark_is_ignored() {
    let empty = load_str("e.yaml", "# only a comment\n", &LoadOptions::default());
    assert!(empty.has_errors());
    let bom = load_str(
        "b.yaml",
        &format!("\u{feff}{BASE}actions:\n  a: {{ description: A, scope: read, handler: code }}\n"),
        &LoadOptions::default(),
    );
    assert!(!bom.has_errors(), "{}", bom.render(false));
}

#[test]
fn many_aliases_load_quickly_enough_to_stay_linear() {
    // 20,000 anchors then 20,000 aliases to the first: a scan per alias would be quadratic.
    let mut text = String::from("x:\n");
    for i in 0..20_000 {
        text.push_str(&format!("  - &a{i} v\n"));
    }
    for _ in 0..20_000 {
        text.push_str("  - *a0\n");
    }
    let loaded = load_str("a.yaml", &text, &LoadOptions::default());
    assert!(
        loaded.has_errors(),
        "not a spec, but it must finish and report"
    );
}

fn help_of(extra: &str, code: Code) -> String {
    let loaded = load_str("t.yaml", &format!("{BASE}{extra}"), &LoadOptions::default());
    loaded
        .diagnostics
        .iter()
        .find(|d| d.code == code)
        .and_then(|d| d.help.clone())
        .unwrap_or_else(|| panic!("no {code} in {}", loaded.render(false)))
}

#[test]
fn unknown_keys_and_values_are_suggested_from_the_model() {
    let actions = "actions:\n  a: { description: A, scope: read, handler: code }\n";
    let key = help_of(
        &format!("policies:\n  retry: {{ presets: [gateway], maxRetry: 2 }}\n{actions}"),
        Code::UnknownKey,
    );
    assert_eq!(key, "did you mean `maxRetries`?");
    let value = help_of(
        &format!(
            "policies:\n  retry: {{ presets: [gateway], backoff: {{ strategy: exponentail }} }}\n{actions}"
        ),
        Code::InvalidValue,
    );
    assert_eq!(value, "did you mean `exponential`?");
    // A variant with a doc comment is generated as a `const`; it is suggested all the same.
    let class = help_of(
        &format!("policies:\n  errors: [ {{ status: [500], class: transiant }} ]\n{actions}"),
        Code::InvalidValue,
    );
    assert_eq!(class, "did you mean `transient`?");
}

#[test]
fn number_ranges_come_from_the_model() {
    let actions = "actions:\n  a: { description: A, scope: read, handler: code }\n";
    let e = errors(&format!(
        "policies:\n  retry: {{ presets: [gateway], maxRetries: 25 }}\n  timeouts: {{ connectMs: 0 }}\n{actions}"
    ));
    assert_eq!(
        e,
        vec![(Code::InvalidValue, 8, 44), (Code::InvalidValue, 9, 26)]
    );
    assert!(
        errors(&format!(
            "policies:\n  retry: {{ presets: [gateway], maxRetries: 20 }}\n{actions}"
        ))
        .is_empty()
    );
}

#[test]
fn mistakes_of_every_kind_in_one_file_are_each_reported_at_their_place() {
    let e = errors(concat!(
        "docUrl: https://example.com\n",
        "actions:\n",
        "  list:\n",
        "    description: List\n",
        "    scope: read\n",
        "    request: { method: GET, path: /items, body: { text: x } }\n",
        "    pagination: { style: cursor, cursorParam: c, cursorPath: $.next, pageSize: lots }\n",
        "test:\n",
        "  action: lst\n",
    ));
    assert_eq!(
        e,
        vec![
            (Code::UnknownKey, 7, 1),
            (Code::Conflict, 12, 43),
            (Code::WrongType, 13, 80),
            (Code::UnknownAction, 15, 11),
        ]
    );
}

#[test]
fn the_model_decodes_with_its_defaults_and_both_auth_type_forms() {
    let text = BASE.replace(
        "auth: { types: [bearer] }",
        "auth: { types: [bearer, { type: basic, recommended: true }], headers: { X-Version: 3 } }",
    );
    let loaded = load_str(
        "t.yaml",
        &format!(
            "{text}policies:\n  retry: {{ presets: [gateway] }}\nactions:\n  a: {{ description: A, scope: read, handler: code }}\n"
        ),
        &LoadOptions::default(),
    );
    let rendered = loaded.render(false);
    let spec = loaded.spec.unwrap_or_else(|| panic!("{rendered}"));
    let kinds: Vec<(&str, bool)> = spec
        .auth
        .types
        .iter()
        .map(|t| (t.kind.as_str(), t.recommended))
        .collect();
    assert_eq!(kinds, vec![("bearer", false), ("basic", true)]);
    assert_eq!(spec.auth.headers["X-Version"], "3");
    let retry = spec.policies.retry.expect("retry");
    assert_eq!((retry.max_retries, retry.max_wait_ms), (3, 30_000));
    assert_eq!(retry.backoff, connector_spec::Backoff::default());
    assert_eq!(
        spec.actions["a"].input,
        connector_spec::empty_object_schema()
    );
}

#[test]
fn a_present_null_is_a_value_to_compare_with() {
    let loaded = load_str(
        "t.yaml",
        &format!(
            "{BASE}actions:\n  a:\n    description: A\n    scope: read\n    request: {{ method: GET, path: /a }}\n    response:\n      errors: [ {{ when: {{ path: $.error, notEquals: null }} }} ]\n"
        ),
        &LoadOptions::default(),
    );
    let rendered = loaded.render(false);
    let spec = loaded.spec.unwrap_or_else(|| panic!("{rendered}"));
    let connector_spec::Implementation::Http { response, .. } = &spec.actions["a"].implementation
    else {
        panic!("a declarative action");
    };
    let rule = &response.as_ref().expect("a response mapping").errors[0];
    assert_eq!(rule.when.not_equals, Some(serde_json::Value::Null));
    assert_eq!(rule.when.equals, None);
}

#[test]
fn embedded_schemas_must_be_object_schemas() {
    let action = |input: &str| {
        format!(
            "actions:\n  a:\n    description: A\n    scope: read\n    handler: code\n    input: {input}\n"
        )
    };
    assert_eq!(errors(&action("3")), vec![(Code::WrongType, 12, 12)]);
    assert_eq!(errors(&action("true")), vec![(Code::InvalidValue, 12, 12)]);
    assert!(errors(&action("{ type: object }")).is_empty());
}

/// A spec with `auth` replaced and the given connector config properties.
fn with_auth(auth: &str, config_props: &str) -> String {
    let text = BASE.replace("auth: { types: [bearer] }", auth);
    format!(
        "{text}config:\n  type: object\n  additionalProperties: false\n  properties: {{ {config_props} }}\nactions:\n  a: {{ description: A, scope: read, handler: code }}\n"
    )
}

fn located_errors(text: &str) -> Vec<(Code, usize, usize, String)> {
    load_str("t.yaml", text, &LoadOptions::default())
        .located()
        .into_iter()
        .filter(|d| d.severity == connector_spec::Severity::Error)
        .map(|d| (d.code, d.line, d.column, d.message.clone()))
        .collect()
}

#[test]
fn an_auth_default_may_be_a_template_over_config() {
    let text = with_auth(
        "auth:\n  types:\n    - type: oauth_client_credentials\n      defaults: { tokenUrl: \"https://login.microsoftonline.com/{{ config.tenantId }}/oauth2/v2.0/token\", scope: \"https://graph.microsoft.com/.default\" }\n",
        "tenantId: { type: string, maxLength: 64 }",
    );
    assert_eq!(located_errors(&text), vec![]);
}

#[test]
fn an_auth_default_template_must_read_declared_config_and_no_secrets() {
    let auth = |default: &str| {
        format!(
            "auth:\n  types:\n    - type: oauth_client_credentials\n      defaults: {{ tokenUrl: \"{default}\" }}\n"
        )
    };
    let props = "tenantId: { type: string, maxLength: 64 }";
    // A typo of a config field: located at the reference, with a suggestion.
    let e = located_errors(&with_auth(
        &auth("https://login.example.com/{{ config.tenantld }}/token"),
        props,
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Code::UnresolvedReference);
    assert_eq!((e[0].1, e[0].2), (9, 59), "{e:?}");
    assert!(e[0].3.contains("config.tenantld"), "{e:?}");
    // Secrets are not available to a default: it would put a secret into config.
    let e = located_errors(&with_auth(
        &auth("https://login.example.com/{{ secrets.clientSecret }}/token"),
        props,
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Code::UnresolvedReference);
    assert!(e[0].3.contains("`secrets` is not available"), "{e:?}");
    // A URL field's template must still be an http(s) URL.
    let e = located_errors(&with_auth(&auth("login/{{ config.tenantId }}"), props));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Code::InvalidValue);
    // A broken template is a syntax error.
    let e = located_errors(&with_auth(
        &auth("https://x.example.com/{{ config.tenantId "),
        props,
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Code::TemplateSyntax);
}

#[test]
fn the_new_auth_types_take_their_documented_defaults() {
    let text = with_auth(
        "auth:\n  types:\n    - type: api_key_header\n      defaults: { headerName: Authorization, prefix: \"GenieKey \" }\n    - type: api_key_pair\n      defaults: { idHeaderName: X-User-Email, keyHeaderName: X-User-Token }\n    - type: oauth_jwt_bearer\n      defaults: { tokenUrl: \"https://{{ config.instance }}.service-now.com/oauth_token.do\" }\n",
        "instance: { type: string, maxLength: 64 }",
    );
    assert_eq!(located_errors(&text), vec![]);
    let e = located_errors(&with_auth(
        "auth:\n  types:\n    - type: api_key_pair\n      defaults: { keyHeader: X }\n",
        "",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Code::UnknownKey);
    // Header names are HTTP tokens; a prefix is printable ASCII.
    let e = located_errors(&with_auth(
        "auth:\n  types:\n    - type: api_key_pair\n      defaults: { idHeaderName: \"X User\", keyHeaderName: X-Key }\n",
        "",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!((e[0].0, e[0].1), (Code::InvalidValue, 9), "{e:?}");
    assert!(e[0].3.contains("not a valid HTTP header name"), "{e:?}");
    let e = located_errors(&with_auth(
        "auth:\n  types:\n    - type: api_key_header\n      defaults: { prefix: \"Key\\n\" }\n",
        "",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Code::InvalidValue);
    let long = "x".repeat(65);
    let e = located_errors(&with_auth(
        &format!(
            "auth:\n  types:\n    - type: api_key_header\n      defaults: {{ prefix: {long} }}\n"
        ),
        "",
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, Code::InvalidValue);
}

#[test]
fn a_hook_is_code_or_a_request_with_error_rules() {
    let text = format!(
        "{BASE}actions:\n  a: {{ description: A, scope: read, handler: code }}\nhooks:\n  preSave:\n    description: Create it.\n    request: {{ method: PUT, path: \"/r/{{{{ secrets.token }}}}\" }}\n    response:\n      errors:\n        - when: {{ path: $.error, exists: true, status: [400] }}\n          message: \"{{{{ response.error }}}}\"\n  postDelete: code\n"
    );
    let loaded = load_str("t.yaml", &text, &LoadOptions::default());
    let rendered = loaded.render(false);
    let spec = loaded.spec.unwrap_or_else(|| panic!("{rendered}"));
    let Some(connector_spec::HookSpec::Http(h)) = &spec.hooks.pre_save else {
        panic!("preSave is a request: {:?}", spec.hooks.pre_save);
    };
    assert_eq!(h.request.method, connector_spec::HttpMethod::Put);
    assert_eq!(h.response.errors.len(), 1);
    assert!(matches!(
        spec.hooks.post_delete,
        Some(connector_spec::HookSpec::Code(_))
    ));
    assert!(spec.hooks.has_code());
}

#[test]
fn a_hook_that_is_neither_code_nor_a_request_is_reported_at_its_value() {
    let e = errors(
        "actions:\n  a: { description: A, scope: read, handler: code }\nhooks:\n  preSave: cod\n  postSave:\n    response: { errors: [] }\n",
    );
    assert_eq!(
        e.iter().map(|(c, l, _)| (*c, *l)).collect::<Vec<_>>(),
        vec![(Code::InvalidValue, 10), (Code::MissingKey, 12)],
        "{e:?}"
    );
}
