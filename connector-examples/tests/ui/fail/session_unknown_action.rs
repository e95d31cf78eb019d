use connector_runtime::{ActionContext, ActionError, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct In {
    pub text: String,
}

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {}

#[connector(session(name = "rtr", init = "open_sesion", id = "$.id"))]
impl Acme {
    /// Open a session.
    #[action(scope = "write")]
    async fn open_session(&self, _ctx: &ActionContext, input: In) -> Result<In, ActionError> {
        Ok(input)
    }

    /// Run a command.
    #[action(scope = "write", session = "rt")]
    async fn run(&self, _ctx: &ActionContext, input: In) -> Result<In, ActionError> {
        Ok(input)
    }
}

fn main() {}
