use connector_runtime::{ActionContext, ActionError, connector};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
pub struct NoSchema {
    pub text: String,
}

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", license = "gold", auth = ["bearer"])]
pub struct Acme {}

#[connector]
impl Acme {
    /// Echo.
    #[action(scope = "read")]
    async fn echo(&self, _ctx: &ActionContext, input: NoSchema) -> Result<NoSchema, ActionError> {
        Ok(input)
    }
}

fn main() {}
