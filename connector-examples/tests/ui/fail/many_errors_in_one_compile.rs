use connector_runtime::{ActionContext, ActionError, connector};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize, JsonSchema)]
pub struct In {
    pub text: String,
}

#[connector(id = ".acme", display_name = "Acme", description = "Acme.", licence = "gold", auth = ["bearer"])]
pub struct Acme {
    #[field(label = "Region", widget = "dropdown", ordr = 1)]
    pub region: String,
}

#[connector]
impl Acme {
    #[action(scope = "raed", tol)]
    async fn echo(&self, _ctx: &ActionContext, input: In) -> Result<In, ActionError> {
        Ok(input)
    }
}

fn main() {
    // The fallback connector type keeps this line free of secondary errors.
    let _ = AcmeConnector::new();
}
