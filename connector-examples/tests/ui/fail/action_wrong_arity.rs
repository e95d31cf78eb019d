use connector_runtime::{ActionError, connector};
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
    async fn echo(&self, input: In) -> Result<In, ActionError> {
        Ok(input)
    }
}

fn main() {}
