use connector_runtime::{ActionContext, ActionError, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct In {
    pub text: String,
}

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {}

#[connector]
impl Acme {
    /// Echo.
    #[action(scope = "read")]
    async fn echo(&self, _ctx: &ActionContext, input: In) -> Result<In, ActionError> {
        Ok(input)
    }

    /// Echo again.
    #[action(scope = "read", name = "echo")]
    async fn echo_again(&self, _ctx: &ActionContext, input: In) -> Result<In, ActionError> {
        Ok(input)
    }
}

fn main() {}
