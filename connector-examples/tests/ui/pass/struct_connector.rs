//! A complete `#[connector]`: every struct key, field hints, actions, a session and a test.

use std::sync::Arc;

use connector_runtime::compiled::Secret;
use connector_runtime::{ActionContext, ActionError, Connector, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Open {
    pub host: String,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Opened {
    pub id: String,
}

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct Run {
    pub command: String,
}

#[connector(
    id = ".acme",
    display_name = "Acme",
    description = "Acme tickets.",
    license = "gold",
    features = ["workflows"],
    auth = ["bearer", "basic"],
    icon = "logoAcme",
    docs_url = "https://acme.example/docs",
    base_url = "https://api.acme.example"
)]
pub struct Acme {
    /// Region of the account.
    #[field(label = "Region", widget = "select", order = 1, section = "Account", help = "Where the account lives.")]
    pub region: String,
    #[field(label = "Project", placeholder = "OPS", default = "OPS", when(field = "region", equals = "eu"))]
    pub project: Option<String>,
    #[field(sensitive, label = "Internal note")]
    pub note: Option<String>,
    #[field(secret, label = "Signing key")]
    pub signing_key: Option<Secret>,
    /// Not configuration: filled with `Default::default()`.
    #[field(skip)]
    pub cache: Vec<String>,
}

#[connector(session(name = "shell", init = "open", id = "$.id", cleanup = "close", description = "A shell."))]
impl Acme {
    /// Open a shell.
    #[action(scope = "write")]
    async fn open(&self, _ctx: &ActionContext, input: Open) -> Result<Opened, ActionError> {
        Ok(Opened { id: input.host })
    }

    /// Run a command in the shell.
    #[action(scope = "destroy", tool, session = "shell", name = "runCommand")]
    async fn run(&self, _ctx: &ActionContext, input: Run) -> Result<String, ActionError> {
        Ok(input.command)
    }

    #[action(scope = "write", description = "Close the shell.")]
    async fn close(&self, _ctx: &ActionContext, _input: Opened) -> Result<(), ActionError> {
        Ok(())
    }

    async fn test(&self, _ctx: &ActionContext) -> Result<bool, ActionError> {
        Ok(true)
    }
}

fn main() {
    let c: Arc<dyn Connector> = Arc::new(AcmeConnector::new().expect("spec"));
    let spec = c.spec();
    assert_eq!(spec.actions.keys().collect::<Vec<_>>(), ["open", "runCommand", "close"]);
    assert_eq!(spec.sessions["shell"].init, "open");
    assert!(spec.config["properties"].get("cache").is_none());
}
