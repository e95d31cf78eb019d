//! The OpenAPI document `connector serve` publishes tells the truth: parameters are where the
//! routes read them, every protected operation documents 401, errors are documented where
//! they happen, with descriptions, and the media types, constraints and security schemes are
//! declared. (`cargo xtask test` also runs openapi-spec-validator and schemathesis on it.)

use std::collections::BTreeSet;

use serde_json::Value;

mod support;
use support::{Serve, workspace_root};

/// Start the real binary on the bundled specs and fetch `/api/openapi.json` (no key needed).
async fn served_document() -> Value {
    let server = Serve::new()
        .specs_dir(workspace_root().join("specs"))
        .start()
        .await;
    let r = reqwest::get(server.url("/api/openapi.json")).await.unwrap();
    assert_eq!(r.status(), 200, "the server did not serve its document");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    r.json().await.unwrap()
}

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// (path, method, operation) for every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                ops.push((path.clone(), m.to_string(), op.clone()));
            }
        }
    }
    ops
}

/// Follows a `$ref` inside the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
        None => v,
    }
}

fn template_vars(path: &str) -> BTreeSet<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_are_where_the_routes_read_them() {
    let doc = served_document().await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let in_path: BTreeSet<String> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            in_path,
            template_vars(&path),
            "{method} {path}: path parameters must be exactly the template's"
        );
        for p in &params {
            if p["in"] == "path" {
                assert_eq!(p["required"], true, "{method} {path} {p}");
            }
        }
    }
    let query = |path: &str, method: &str| -> Vec<(String, bool)> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["required"].as_bool().unwrap_or(false),
                )
            })
            .collect()
    };
    assert_eq!(
        query("/api/instances/{id}/actions/{action}", "post"),
        [("allPages".to_string(), false)]
    );
    assert_eq!(
        query("/api/instances/{id}/oauth/start", "get"),
        [
            ("returnUrl".to_string(), false),
            ("tenant".to_string(), false)
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_protected_operation_documents_401_and_both_ways_to_send_a_key() {
    let doc = served_document().await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["type"], "apiKey");
    assert_eq!(schemes["api_key"]["in"], "header");
    assert_eq!(schemes["api_key"]["name"], "X-Api-Key");

    let public: BTreeSet<&str> = [
        "/healthz",
        "/readyz",
        "/api/openapi.json",
        "/api/oauth/callback",
    ]
    .into_iter()
    .collect();
    let mut protected = 0;
    for (path, method, op) in operations(&doc) {
        if public.contains(path.as_str()) {
            assert!(op.get("security").is_none(), "{method} {path} is public");
            continue;
        }
        protected += 1;
        let names: BTreeSet<String> = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path} declares no security"))
            .iter()
            .flat_map(|req| req.as_object().unwrap().keys().cloned())
            .collect();
        assert_eq!(
            names,
            ["api_key".to_string(), "bearer".to_string()].into(),
            "{method} {path}"
        );
        assert!(
            op["responses"].get("401").is_some(),
            "{method} {path} does not document 401"
        );
        assert!(
            op["responses"].get("503").is_some(),
            "{method} {path}: the user store can be unavailable"
        );
    }
    assert_eq!(protected, 25, "25 protected operations");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_documented_where_they_happen_with_descriptions() {
    let doc = served_document().await;
    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        for (status, r) in responses {
            let r = resolve(&doc, r);
            assert!(
                r["description"]
                    .as_str()
                    .is_some_and(|d| !d.trim().is_empty()),
                "{method} {path} {status}: empty description"
            );
            if status.starts_with('4') || status.starts_with('5') {
                // The callback's HTML pages aside, an error is the JSON error body.
                let content = r["content"].as_object().unwrap();
                assert!(
                    content.contains_key("application/json") || content.contains_key("text/html"),
                    "{method} {path} {status}"
                );
            }
        }
        if op.get("requestBody").is_some() {
            for s in ["400", "413", "415"] {
                assert!(
                    responses.contains_key(s),
                    "{method} {path} reads a body and does not document {s}"
                );
            }
        }
        if path.contains("{id}") {
            assert!(responses.contains_key("404"), "{method} {path}");
            assert!(
                responses.contains_key("400"),
                "{method} {path}: invalid path"
            );
        }
    }
    let r = |p: &str, m: &str| doc["paths"][p][m]["responses"].clone();
    for (p, m) in [
        ("/api/instances", "post"),
        ("/api/instances/{id}", "put"),
        ("/api/instances/{id}", "delete"),
    ] {
        assert!(r(p, m).get("403").is_some(), "{m} {p} is admin only");
    }
    assert!(r("/api/instances", "post").get("409").is_some());
    for m in ["get", "post"] {
        assert!(r("/api/instances/{id}/oauth/start", m).get("429").is_some());
    }
    assert!(r("/api/oauth/callback", "get").get("429").is_some());
    assert!(r("/readyz", "get").get("503").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn media_types_shapes_and_constraints_are_declared() {
    let doc = served_document().await;
    assert!(
        doc["paths"].get("/api/openapi.json").is_some(),
        "the document lists itself"
    );
    let ok = |p: &str, m: &str, s: &str| resolve(&doc, &doc["paths"][p][m]["responses"][s]).clone();
    let action = ok("/api/instances/{id}/actions/{action}", "post", "200");
    assert!(action["content"].get("application/json").is_some());
    assert!(action["content"].get("text/event-stream").is_some());
    let callback = ok("/api/oauth/callback", "get", "200");
    assert!(callback["content"].get("text/html").is_some());

    let schemas = &doc["components"]["schemas"];
    // Listings are arrays, and an action's output may be any JSON value.
    assert_eq!(
        schemas["InstanceList"]["properties"]["instances"]["type"],
        "array"
    );
    assert!(
        schemas["ActionOutput"]["properties"]["output"]
            .get("type")
            .is_none()
    );
    assert!(
        schemas["TestResponse"]["properties"]["result"]
            .get("type")
            .is_none()
    );
    let catalog = resolve(
        &doc,
        &ok("/api/connector-types", "get", "200")["content"]["application/json"]["schema"],
    )
    .clone();
    assert_eq!(catalog["properties"]["connectorTypes"]["type"], "array");

    let create = &schemas["CreateInstance"]["properties"];
    assert_eq!(create["id"]["maxLength"], 64);
    assert_eq!(create["id"]["pattern"], "^[a-z0-9_-]{1,64}$");
    assert_eq!(create["name"]["maxLength"], 200);
    assert_eq!(create["name"]["minLength"], 1);
    assert_eq!(
        schemas["UpdateInstance"]["properties"]["name"]["maxLength"],
        200
    );
    for (path, method, op) in operations(&doc) {
        for p in op["parameters"].as_array().cloned().unwrap_or_default() {
            if p["name"] == "id" && path.starts_with("/api/instances/") {
                assert_eq!(
                    p["schema"]["pattern"], "^[a-z0-9_-]{1,64}$",
                    "{method} {path}"
                );
            }
        }
    }
    // Stateful clients can follow a created instance to the operations on it.
    let links = &ok("/api/instances", "post", "201")["links"];
    assert_eq!(links["get_instance"]["operationId"], "get_instance");
    assert_eq!(
        links["get_instance"]["parameters"]["id"],
        "$response.body#/id"
    );
}
