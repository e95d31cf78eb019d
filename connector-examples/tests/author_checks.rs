//! What `#[connector]` checks and accepts for authors beyond the basics: bounded config fields
//! (`max_length`, `min_length`, `pattern`, `format`), `options_from` checked against the
//! actions at compile time (this file compiles because it names a real one), a handler error
//! type of the author's own that converts into `ActionError`, and `strict`, which refuses what
//! `connector validate --strict` refuses. The compile-time refusals are the UI cases in
//! `tests/ui/fail/` (`options_from_unknown_action`, `when_unknown_field`,
//! `field_bounds_invalid`, `action_input_by_reference`, `action_error_not_convertible`).

use connector_runtime::{ActionContext, ActionError, Credentials, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[connector(
    id = ".bounded",
    display_name = "Bounded",
    description = "Config fields with bounds.",
    license = "basic",
    auth = ["none"]
)]
pub struct Bounded {
    #[field(label = "Site", max_length = 2048, format = "uri")]
    pub site: String,
    #[field(
        label = "Project key",
        min_length = 2,
        max_length = 10,
        pattern = "^[A-Z][A-Z0-9]+$",
        options_from = "listProjects"
    )]
    pub project: Option<String>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Nothing {}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Projects {
    #[schemars(length(max = 100))]
    pub keys: Vec<String>,
}

/// An error type of the author's own, converted with `From`.
#[derive(Debug)]
pub struct UpstreamDown;

impl From<UpstreamDown> for ActionError {
    fn from(_: UpstreamDown) -> ActionError {
        ActionError::system("upstream_down", "the upstream service is down")
    }
}

#[connector]
impl Bounded {
    /// List the projects the key can be chosen from.
    #[action(scope = "read")]
    async fn list_projects(
        &self,
        _ctx: &ActionContext,
        _input: Nothing,
    ) -> Result<Projects, UpstreamDown> {
        match self.site.as_str() {
            "https://down.example" => Err(UpstreamDown),
            _ => Ok(Projects {
                keys: vec!["OPS".into()],
            }),
        }
    }
}

#[test]
fn field_bounds_reach_the_config_schema() {
    let spec = BoundedConnector::spec_model().expect("spec");
    let props = &spec.config["properties"];
    assert_eq!(props["site"]["maxLength"], 2048);
    assert_eq!(props["site"]["format"], "uri");
    assert_eq!(props["project"]["minLength"], 2);
    assert_eq!(props["project"]["maxLength"], 10);
    assert_eq!(props["project"]["pattern"], "^[A-Z][A-Z0-9]+$");
    assert_eq!(props["project"]["x-ui"]["optionsFrom"], "listProjects");
}

#[tokio::test]
async fn the_bounds_are_enforced_when_an_instance_is_created() {
    let too_long = Bounded {
        site: format!("https://{}.example", "a".repeat(2048)),
        project: None,
    };
    let e = BoundedConnector::instance(&too_long, Credentials::none())
        .err()
        .expect("longer than maxLength");
    assert_eq!(e.code, "invalid_config", "{e}");
    let bad_key = Bounded {
        site: "https://acme.example".into(),
        project: Some("ops".into()),
    };
    let e = BoundedConnector::instance(&bad_key, Credentials::none())
        .err()
        .expect("does not match the pattern");
    assert_eq!(e.code, "invalid_config", "{e}");
}

#[tokio::test]
async fn an_authors_error_type_converts_into_the_classified_error() {
    let site = |s: &str| Bounded {
        site: s.into(),
        project: None,
    };
    let ok =
        BoundedConnector::instance(&site("https://acme.example"), Credentials::none()).unwrap();
    let out: Projects = ok.call("listProjects", &Nothing {}).await.unwrap();
    assert_eq!(out.keys, ["OPS"]);
    let down =
        BoundedConnector::instance(&site("https://down.example"), Credentials::none()).unwrap();
    let e = down.execute("listProjects", json!({})).await.unwrap_err();
    assert_eq!(
        (e.class, e.code),
        (connector_runtime::ErrorClass::System, "upstream_down")
    );
}

#[connector(
    id = ".unbounded",
    display_name = "Unbounded",
    description = "An input with an unbounded string.",
    license = "basic",
    auth = ["none"]
)]
pub struct Unbounded {}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Free {
    pub text: String,
}

#[connector]
impl Unbounded {
    /// Echo the text.
    #[action(scope = "read")]
    async fn echo(&self, _ctx: &ActionContext, input: Free) -> Result<Value, ActionError> {
        Ok(json!(input.text))
    }
}

/// The same connector under `strict`.
#[connector(
    id = ".unbounded-strict",
    display_name = "Unbounded (strict)",
    description = "An input with an unbounded string, refused under strict.",
    license = "basic",
    auth = ["none"]
)]
pub struct UnboundedStrict {}

#[connector(strict)]
impl UnboundedStrict {
    /// Echo the text.
    #[action(scope = "read")]
    async fn echo(&self, _ctx: &ActionContext, input: Free) -> Result<Value, ActionError> {
        Ok(json!(input.text))
    }
}

#[test]
fn strict_refuses_what_validate_strict_refuses() {
    const { assert!(!UnboundedConnector::STRICT) };
    assert!(
        UnboundedConnector::new().is_ok(),
        "a warning only, without strict"
    );
    const { assert!(UnboundedStrictConnector::STRICT) };
    let e = UnboundedStrictConnector::new()
        .err()
        .expect("strict refuses an unbounded string");
    assert_eq!(e.code, "invalid_spec");
    assert!(e.message.contains("maxLength"), "{e}");
}
