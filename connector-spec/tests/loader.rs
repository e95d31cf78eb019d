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
